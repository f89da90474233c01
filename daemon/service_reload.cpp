// Service::Impl::reconfigure: the keys a reload changes are read at each check (quota, reserve,
// limits), at each Allocate with content (roots) or when an export is started or ends (exports),
// so replacing them is enough; exports waiting their turn start at once if the cap went up.
#include "daemon/service_impl.h"

namespace virtscratch::daemon {

Status Service::Impl::reconfigure(const Config& config) {
  uint64_t reserve = config.poolReserve;
  if (config.poolReserve == 0 && config.poolReservePercent >= 0) {
    if (started_) {
      VS_ASSIGN_OR_RETURN(uint64_t total, pool_.totalBytes());
      reserve =
          static_cast<uint64_t>(static_cast<long double>(total) * config.poolReservePercent / 100);
    }
  }
  config_.poolQuota = config.poolQuota;
  config_.poolEncryption = config.poolEncryption;
  config_.poolDiscard = config.poolDiscard;
  config_.poolReserve = reserve;
  config_.poolReservePercent = config.poolReservePercent;
  config_.maxImageSize = config.maxImageSize;
  config_.disksPerDomain = config.disksPerDomain;
  config_.concurrentExports = config.concurrentExports;
  config_.contentRoots = config.contentRoots;
  config_.hookTimeoutMs = config.hookTimeoutMs;
  config_.hookFail = config.hookFail;
  content_ = ContentRoots(config.contentRoots);
  launchExports();  // a higher [jobs] exports starts waiting ones now
  return {};
}

}  // namespace virtscratch::daemon
