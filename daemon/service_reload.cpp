// Service::Impl::reconfigure: the keys a reload changes are read at each check (quotas, reserve,
// high-water, limits), at each Allocate with content (roots) or when an export is started or ends
// (exports), so replacing them is enough; exports waiting their turn start at once if the cap went
// up.
#include "daemon/service_impl.h"

namespace virtscratch::daemon {

Status Service::Impl::reconfigure(const Config& config) {
  uint64_t reserve = config.poolReserve;
  if (config.poolReserve == 0 && config.poolReservePercent >= 0) {
    if (started_) {
      VS_ASSIGN_OR_RETURN(reserve, shareOfPool(config.poolReservePercent));
    }
  }
  uint64_t highWater = config.poolHighWater;
  if (config.poolHighWater == 0 && config.poolHighWaterPercent > 0 && started_) {
    VS_ASSIGN_OR_RETURN(highWater, shareOfPool(config.poolHighWaterPercent));
  }
  config_.poolQuota = config.poolQuota;
  config_.poolQuotaAllocated = config.poolQuotaAllocated;
  config_.poolHighWater = highWater;
  config_.poolHighWaterPercent = config.poolHighWaterPercent;
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
