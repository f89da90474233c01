#include "vocabulary/hook_settings.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace virtscratch::vocabulary {

Result<uint32_t> parseHookTimeout(std::string_view text) {
  auto bad = [&] {
    return invalidArgument("invalid timeout '" + std::string(text) +
                           "' (write milliseconds, for example 30000 or 30000ms, or seconds, "
                           "for example 30s; from 1 ms to 600s)");
  };
  size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  std::string_view unit = text.substr(digits);
  uint64_t scale = unit.empty() || unit == "ms" ? 1 : (unit == "s" ? 1000 : 0);
  if (digits == 0 || digits > 9 || scale == 0) return bad();
  uint64_t ms = std::strtoull(std::string(text.substr(0, digits)).c_str(), nullptr, 10) * scale;
  if (ms == 0 || ms > 600000) return bad();
  return static_cast<uint32_t>(ms);
}

Result<HookFailMode> parseHookFailMode(std::string_view text) {
  if (text == "closed") return HookFailMode::kClosed;
  if (text == "open") return HookFailMode::kOpen;
  return invalidArgument("unknown mode '" + std::string(text) + "' (choose one of: closed, open)");
}

}  // namespace virtscratch::vocabulary
