// The hook's few settings, read by the hook itself so that it links no daemon code: the [hook]
// group of virt-scratchd's configuration (the file and its <file>.d/*.conf drop-ins in name order,
// later keys win, as daemon/config reads them). Other groups and keys are the daemon's and are
// skipped; a bad value of a [hook] key, or a line that is no group, key or comment, is an error
// naming the file, the line and the key. Values are parsed as the daemon parses them
// (vocabulary/hook_settings.h). Single-threaded.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"
#include "vocabulary/hook_settings.h"

namespace virtscratch::hook {

struct HookConfig {
  uint32_t timeoutMs = 30000;  // [hook] timeout: the whole run's deadline
  vocabulary::HookFailMode fail = vocabulary::HookFailMode::kClosed;  // [hook] fail
};

// A missing main file or drop-in folder is not an error: the defaults apply.
Result<HookConfig> loadHookConfig(const std::string& path);

}  // namespace virtscratch::hook
