// The values of the configuration's [hook] group, which the hook reads (plugin/hook_config) and
// the daemon validates with the rest of the file (daemon/config): parsed here once, so that both
// accept and refuse the same text. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"

namespace virtscratch::vocabulary {

// [hook] fail: what the hook does when virt-scratchd cannot make a disk.
enum class HookFailMode { kClosed, kOpen };

// [hook] timeout: milliseconds ("30000", "30000ms") or seconds ("30s"), 1 ms to 600 s;
// kInvalidArgument quoting the text otherwise.
Result<uint32_t> parseHookTimeout(std::string_view text);
// [hook] fail: closed or open; kInvalidArgument quoting the text otherwise.
Result<HookFailMode> parseHookFailMode(std::string_view text);

}  // namespace virtscratch::vocabulary
