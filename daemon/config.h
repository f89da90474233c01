// virt-scratchd's configuration: /etc/virt-scratch/virt-scratchd.conf, then every
// virt-scratchd.conf.d/*.conf beside it in name order (later keys win), read with GKeyFile. Every
// key is validated when the daemon starts; an error names the file, the line and the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "image/status.h"

namespace virtscratch::daemon {

enum class TemplateMode { kReflink, kOverlay, kOff };
enum class HookFailMode { kClosed, kOpen };  // [hook] fail = closed|open

struct Config {
  // [pool]
  std::string poolPath = "/var/lib/virt-scratch/pool";
  uint64_t poolQuota = 0;    // sum of virtual sizes; 0: no quota
  uint64_t poolReserve = 0;  // bytes to keep free on the pool's filesystem (statvfs)
  // [templates]
  TemplateMode templateMode = TemplateMode::kReflink;  // reflink falls back to a data copy
  uint64_t templateBudget = 0;  // bytes of template files kept (allocated bytes); LRU eviction
  // [access] group: no longer used (polkit's rules decide who may change the pool); still
  // accepted so that an old configuration starts, and the daemon logs a warning when it is set.
  std::string accessGroup;
  // [content]
  std::vector<std::string> contentRoots;  // absolute directories; none by default
  // [libvirt]
  std::string libvirtUri;  // empty: no libvirt
  // [hook]
  uint32_t hookTimeoutMs = 30000;
  HookFailMode hookFail = HookFailMode::kClosed;
  // Limits
  uint64_t maxImageSize = uint64_t{64} << 40;
};

// Reads `path` and the drop-ins in `<path>.d/` (e.g. virt-scratchd.conf.d/). A missing main
// file is not an error (defaults apply); a malformed one is.
Result<Config> loadConfig(const std::string& path);

}  // namespace virtscratch::daemon
