// virt-scratchd's configuration: /etc/virt-scratch/virt-scratchd.conf, then every
// virt-scratchd.conf.d/*.conf beside it in name order (later keys win), read with GKeyFile. Every
// key is validated when the daemon starts; an error names the file, the line and the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "image/spec.h"
#include "vocabulary/hook_settings.h"

namespace virtscratch::daemon {

enum class TemplateMode { kReflink, kOverlay, kOff };
using vocabulary::HookFailMode;  // [hook] fail = closed|open

struct Config {
  // [pool]
  std::string poolPath = "/var/lib/virt-scratch/pool";
  uint64_t poolQuota = 0;    // sum of virtual sizes; 0: no quota
  uint64_t poolReserve = 0;  // bytes to keep free on the pool's filesystem (statvfs)
  // The reserve as a percentage of the pool's filesystem, turned into poolReserve when the pool
  // is opened (the filesystem may not exist when the file is read) unless poolReserve is set;
  // negative when the reserve was given in bytes.
  double poolReservePercent = 5;
  // What an Allocate that does not name its encryption gets (hot-plugged disks whose metadata
  // says none, management tools, `virt-scratch allocate`); `enable` reads it too.
  image::Encryption poolEncryption = image::Encryption::kNone;
  // Whether disks give freed blocks back (vocabulary/discard.h), for an Allocate that does not
  // say; `enable` reads it too. Preallocated images never do.
  bool poolDiscard = true;
  // Largest sum of the images' host (allocated) bytes, as the last refresh counted them; 0: none.
  uint64_t poolQuotaAllocated = 0;
  // The high-water mark of the images' allocated total: past it the daemon warns (log line,
  // SpaceLow signal). Bytes, or a percentage of the pool's filesystem turned into bytes when the
  // pool is opened, as the reserve; 0 bytes: no mark.
  uint64_t poolHighWater = 0;
  double poolHighWaterPercent = 80;  // negative when the mark was given in bytes
  // Seconds between refreshes: the images' allocated bytes and the pool's free space are read
  // again, the reserve and the high-water mark checked and [metrics] textfile rewritten.
  uint32_t refreshSeconds = 15;
  // The pool is on storage other hosts mount too (daemon/shared_pool.h): images are owned per
  // host, locked by their owner and adopted by a migration's destination.
  bool poolShared = false;
  // This host's name in a shared pool's records; empty: the machine's host name.
  std::string poolHost;
  // [templates]
  TemplateMode templateMode = TemplateMode::kReflink;  // reflink falls back to a data copy
  // Bytes of template files kept (allocated bytes), LRU eviction; 0: no limit. A sparse template
  // holds only its filesystem's metadata (about 20 MiB for 1 TiB of ext4), so 2 GiB keeps about
  // ten 1 TiB specs with their spares warm while bounding what callers' specs can pin.
  uint64_t templateBudget = uint64_t{2} << 30;
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
  // [limits]
  uint64_t maxImageSize = uint64_t{64} << 40;  // max-size: the largest virtual size
  uint32_t disksPerDomain = 16;                // disks-per-domain: images one domain may have
  // [jobs]
  uint32_t concurrentExports = 1;  // exports: how many run at once; the rest wait their turn
  uint32_t queueLimit = 256;       // queue: work waiting for a worker, per lane; past it, Busy
  // [metrics]
  // Where the metrics are written at each refresh (Prometheus text format, for node_exporter's
  // textfile collector), replaced atomically; empty: not written.
  std::string metricsTextfile;
};

// Reads `path` and the drop-ins in `<path>.d/` (e.g. virt-scratchd.conf.d/). A missing main
// file is not an error (defaults apply); a malformed one is.
Result<Config> loadConfig(const std::string& path);

// On reload (SIGHUP) the running daemon takes [pool] quota, quota-allocated, reserve, high-water,
// encryption and discard, [limits], [jobs] exports and [content] roots from a new configuration;
// [hook] is the hook's, read on each of its runs. The keys below are kept as the daemon started
// with them: the pool, its templates, the worker queues and the libvirt connection are made once.
// Returns those whose value differs
// ("[pool] path"), for the log.
std::vector<std::string> keysNeedingRestart(const Config& running, const Config& next);

}  // namespace virtscratch::daemon
