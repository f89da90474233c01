#include "base/utf8.h"

#include <cstdint>

namespace virtscratch {

std::optional<size_t> firstInvalidUtf8(std::string_view value) {
  size_t i = 0;
  while (i < value.size()) {
    auto c = static_cast<unsigned char>(value[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xe  ? 3
                    : (c >> 3) == 0x1e ? 4
                                       : 0;
    bool ok = length != 0 && i + length <= value.size() && c != 0;
    for (size_t k = 1; ok && k < length; ++k) {
      ok = (static_cast<unsigned char>(value[i + k]) & 0xc0) == 0x80;
    }
    if (ok && length > 1) {
      uint32_t cp = c & (0x7f >> length);
      for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (value[i + k] & 0x3f);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[length] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    if (!ok) return i;
    i += length;
  }
  return std::nullopt;
}

}  // namespace virtscratch
