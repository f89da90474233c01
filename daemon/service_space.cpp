// Service::Impl::refreshSpace: the pool's accounting of host bytes and the warnings before the
// pool's filesystem fills (the high-water mark of allocated bytes, the reserve of free space).
#include "daemon/log.h"
#include "daemon/service_impl.h"
#include "image/size.h"

namespace virtscratch::daemon {

std::string_view toString(SpaceState state) {
  switch (state) {
    case SpaceState::kOk:
      return "ok";
    case SpaceState::kHighWater:
      return "high-water";
    case SpaceState::kReserve:
      return "reserve";
  }
  return "ok";
}

Result<uint64_t> Service::Impl::shareOfPool(double percent) const {
  VS_ASSIGN_OR_RETURN(uint64_t total, pool_.totalBytes());
  return static_cast<uint64_t>(static_cast<long double>(total) * percent / 100);
}

SpaceState Service::Impl::spaceStateOf(uint64_t allocated, uint64_t available) const {
  if (config_.poolReserve != 0 && available < config_.poolReserve) return SpaceState::kReserve;
  if (config_.poolHighWater != 0 && allocated > config_.poolHighWater) {
    return SpaceState::kHighWater;
  }
  return SpaceState::kOk;
}

void Service::Impl::refreshSpace() {
  if (!started_) return;
  pool_.refreshAllocation();
  auto available = pool_.availableBytes();
  if (!available.ok()) {
    logLine(LogLevel::kWarning,
            "cannot read the free space of the pool: " + available.status().message());
    return;
  }
  SpaceState state = spaceStateOf(pool_.allocatedTotal(), *available);
  if (state == spaceState_) return;
  SpaceState before = std::exchange(spaceState_, state);
  std::string figures = "the images occupy " + image::formatSize(pool_.allocatedTotal()) + " (" +
                        image::formatSize(pool_.usedBytes()) + " virtual), " +
                        image::formatSize(*available) + " is free on the pool's filesystem";
  switch (state) {
    case SpaceState::kReserve:
      logLine(LogLevel::kWarning,
              "pool " + pool_.path() + " is under its reserve of " +
                  image::formatSize(config_.poolReserve) + ": " + figures +
                  "; new images are refused and guests may soon get ENOSPC: release images "
                  "(virt-scratch list, virt-scratch release) or free space on that filesystem");
      break;
    case SpaceState::kHighWater:
      logLine(LogLevel::kWarning,
              "pool " + pool_.path() + " has passed its high-water mark of " +
                  image::formatSize(config_.poolHighWater) + ": " + figures +
                  "; release images or give the pool more room before guests get ENOSPC");
      break;
    case SpaceState::kOk:
      logLine(LogLevel::kNotice, "pool " + pool_.path() + " is back under its marks (was " +
                                     std::string(toString(before)) + "): " + figures);
      break;
  }
  listener_.spaceChanged(state, pool_.allocatedTotal(), *available);
}

}  // namespace virtscratch::daemon
