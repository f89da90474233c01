// Fuzzes the size parser: it must never crash, and every size it accepts is within its limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "image/size.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = virtscratch::image::parseSize(text);
  if (parsed.ok() && (*parsed == 0 || *parsed > virtscratch::image::kDefaultMaxImageSize)) {
    std::abort();
  }
  if (!parsed.ok() && parsed.status().message().empty()) std::abort();
  return 0;
}
