#include "client/utf8.h"

#include <cstdint>
#include <string>

namespace virtscratch::client {

Status requireUtf8(std::string_view what, std::string_view value) {
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
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
    if (ok && length > 1) {
      uint32_t cp = c & (0x7f >> length);
      for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (value[i + k] & 0x3f);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[length] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    if (!ok) {
      return invalidArgument(std::string(what) + " is not valid UTF-8 (byte " + std::to_string(i) +
                             "); the bus carries only UTF-8 text");
    }
    i += length;
  }
  return {};
}

}  // namespace virtscratch::client
