// Service::Impl: start, allocate and the checks before it, the queries, shutdown. The work is in
// its parts: planAllocation (checks), Allocator (cold and warm builds), Pool and recoverPool
// (files and records), TemplateCache, JobTable, ContentRoots, WorkerPool.
#include "daemon/service_impl.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>

#include "daemon/log.h"
#include "daemon/pool_recovery.h"
#include "daemon/shared_pool.h"
#include "image/size.h"
#include "vocabulary/disk_secret.h"

namespace virtscratch::daemon {
namespace {

unsigned workerCount() {
  // Image work is mostly waiting on the disk and on mkfs; a few threads keep one slow request
  // from holding up the rest without oversubscribing a small host.
  return std::clamp(std::thread::hardware_concurrency(), 2u, 4u);
}

// Released files waiting for a deletion thread; past this many a release unlinks on the loop.
constexpr size_t kDeletionQueue = 4096;

}  // namespace

Status shuttingDown() { return {ErrorCode::kBusy, "the daemon is shutting down"}; }
Status notStarted() { return failed("the pool is not open yet (Service::start was not called)"); }

Service::Impl::Impl(Config config, LoopInvoker& loop, ServiceListener& listener,
                    DomainResolver& resolver, ImageEngine& engine)
    : config_(std::move(config)),
      listener_(listener),
      resolver_(resolver),
      engine_(engine),
      pool_(config_.poolPath),
      templates_(config_.templateMode, config_.templateBudget),
      jobs_(JobTable::create(loop, listener)),
      content_(config_.contentRoots),
      workers_(workerCount(), config_.queueLimit),
      deletions_(2, kDeletionQueue),
      memorySecrets_(loop),
      ctx_{config_,  loop,    listener, pool_,    templates_, *jobs_,
           workers_, engine_, secrets_, metrics_, alive_},
      allocator_(ctx_) {
  allocator_.setIdleCallback([this] { maybeFinishShutdown(); });
  jobs_->setMetrics(&metrics_);
}

Service::Impl::~Impl() {
  allocator_.stopSpares();
  jobs_->cancelAll();
  workers_.stop();
  deletions_.stop();
}

Result<std::string> Service::Impl::start() {
  if (started_) return failed("the pool is open already");
  VS_RETURN_IF_ERROR(pool_.open());
  pool_.setDeleter(
      [this](std::string name, uint64_t bytes) { deleteParked(std::move(name), bytes); });
  if (config_.poolReserve == 0 && config_.poolReservePercent >= 0) {
    VS_ASSIGN_OR_RETURN(config_.poolReserve, shareOfPool(config_.poolReservePercent));
  }
  if (config_.poolHighWater == 0 && config_.poolHighWaterPercent > 0) {
    VS_ASSIGN_OR_RETURN(config_.poolHighWater, shareOfPool(config_.poolHighWaterPercent));
  }
  if (config_.poolShared) {
    VS_ASSIGN_OR_RETURN(config_.poolHost, poolHostName(config_.poolHost));
    VS_RETURN_IF_ERROR(probeLocks(pool_.fd(), pool_.path(), config_.poolHost));
  }
  VS_ASSIGN_OR_RETURN(Recovery recovery, recoverPool(pool_.fd(), pool_.path(),
                                                     {config_.poolShared, config_.poolHost}));
  for (const auto& [domain, target] : recovery.orphanKeys) {
    secrets_->drop(vocabulary::secretUuidOf(domain, target));
  }
  std::set<std::string> referenced;
  for (const StoredRecord& s : recovery.images) {
    if (!s.templateName.empty()) referenced.insert(s.templateName);
  }
  VS_ASSIGN_OR_RETURN(std::string templates,
                      templates_.open(pool_.fd(), pool_.path(), referenced,
                                      templatesDirName(config_.poolShared, config_.poolHost)));
  for (StoredRecord& s : recovery.images) {
    TemplateRef use;
    if (!s.templateName.empty()) {
      use = templates_.use(s.templateName);
      if (!use) {
        recovery.leftAlone.push_back("'" + s.record.id + "' (its template " + s.templateName +
                                     " is missing)");
      }
    }
    std::string id = s.record.id;
    pool_.insert(std::move(s), std::move(use));
    // An image this host was adopting is taken over once the domain runs here (the watcher's
    // reconcile); until then its owner holds it.
    if (config_.poolShared && !pool_.find(id)->record.adopting) {
      holdRecovered(id, recovery.leftAlone);
    }
  }
  templates_.evict();
  started_ = true;
  return "pool " + pool_.path() + ": " + std::to_string(pool_.size()) + " images (" +
         image::formatSize(pool_.usedBytes()) + "); " + recovery.summary() + "; " + templates;
}

void Service::Impl::allocate(const Caller& caller, AllocateRequest request,
                             std::function<void(Result<ImageRecord>)> done) {
  auto fail = [&](Status status) {
    ctx_.post([done = std::move(done), status = std::move(status)] { done(status); });
  };
  if (!started_) return fail(notStarted());
  if (stopping_) return fail(shuttingDown());
  metrics_.request("allocate", request.spec.origin.empty()
                                   ? (caller.sender.empty() ? kOriginWatcher : kOriginBus)
                                   : std::string_view(request.spec.origin));
  auto plan = planAllocation(request, config_, resolver_, content_);
  if (!plan.ok()) return fail(plan.status());
  if (plan->content) plan->content->reader = caller;
  if (config_.poolShared && plan->incoming && pool_.find(plan->id) == nullptr &&
      !allocator_.inFlight(plan->id)) {
    auto adopting = adoptIncoming(*plan);
    if (!adopting.ok()) return fail(adopting.status());
    if (*adopting) {
      ctx_.post([done = std::move(done), record = pool_.find(plan->id)->record] { done(record); });
      return;
    }
  }
  if (PoolEntry* existing = pool_.find(plan->id)) {
    // Its bytes are not the migrating VM's: a mirror into it would be taken as a fresh copy.
    if (plan->incoming) {
      return fail({ErrorCode::kAlreadyExists,
                   "domain " + plan->domain.uuid + " already has an image for " + plan->target +
                       " on this host (" + existing->record.path +
                       "), which an incoming migration would overwrite; release it "
                       "(virt-scratch release " +
                       plan->id + ") and migrate again"});
    }
    pool_.claim(*existing);
    ctx_.post([done = std::move(done), record = existing->record] { done(record); });
    return;
  }
  if (allocator_.inFlight(plan->id)) {
    return allocator_.join(plan->id, std::move(done), caller.sender);
  }
  if (Status s = checkDisksPerDomain(*plan); !s.ok()) return fail(s);
  if (Status s = checkRoom(*plan); !s.ok()) return fail(s);
  allocator_.start(std::move(*plan), std::move(done), caller.sender);
}

Status Service::Impl::checkDisksPerDomain(const AllocationPlan& plan) const {
  const std::string& uuid = plan.domain.uuid;
  size_t disks = pool_.idsInDomain(uuid).size() + allocator_.inFlightInDomain(uuid);
  if (disks < config_.disksPerDomain) return {};
  return {ErrorCode::kQuotaExceeded, "domain " + uuid + " already has " + std::to_string(disks) +
                                         " scratch disks, the limit " +
                                         "[limits] disks-per-domain (" +
                                         std::to_string(config_.disksPerDomain) +
                                         "); release one before asking for " + plan.target};
}

Status Service::Impl::checkRoom(const AllocationPlan& plan) const {
  uint64_t size = plan.spec.size;
  uint64_t quota = config_.poolQuota;
  if (quota != 0) {
    uint64_t used = pool_.usedBytes() + allocator_.pendingSize();
    if (size > quota || used > quota - size) {
      return {ErrorCode::kQuotaExceeded,
              "a new image of " + image::formatSize(size) + " would exceed the pool quota of " +
                  image::formatSize(quota) + " (" + image::formatSize(used) +
                  " in use); release images or ask for less"};
    }
  }
  uint64_t quotaAllocated = config_.poolQuotaAllocated;
  if (quotaAllocated != 0) {
    uint64_t allocated = pool_.allocatedTotal() + allocator_.pendingAllocation();
    uint64_t needs = plan.expectedAllocation;
    if (needs > quotaAllocated || allocated > quotaAllocated - needs) {
      return {ErrorCode::kQuotaExceeded, "a new image needing about " + image::formatSize(needs) +
                                             " on the host would pass [pool] quota-allocated of " +
                                             image::formatSize(quotaAllocated) +
                                             " (the images occupy " + image::formatSize(allocated) +
                                             "); release images or raise the quota"};
    }
  }
  VS_ASSIGN_OR_RETURN(uint64_t available, pool_.availableBytes());
  uint64_t usable = available > config_.poolReserve ? available - config_.poolReserve : 0;
  // Templates and spares being built take room too; those already built are gone from statvfs.
  uint64_t needed =
      allocator_.pendingAllocation() + allocator_.backgroundBytes() + plan.expectedAllocation;
  if (needed > usable) {
    return {ErrorCode::kNoSpace,
            "the pool's filesystem has " + image::formatSize(usable) +
                " free above the reserve of " + image::formatSize(config_.poolReserve) +
                ", and a new image of " + image::formatSize(size) + " (preallocation " +
                std::string(toString(plan.spec.preallocation)) + ") needs about " +
                image::formatSize(plan.expectedAllocation)};
  }
  return {};
}

Status Service::Impl::setState(std::string_view id, ImageState state) {
  PoolEntry* entry = pool_.find(id);
  if (entry == nullptr) return {ErrorCode::kNotFound, "no image '" + std::string(id) + "'"};
  if (state != ImageState::kReady && state != ImageState::kAttached) {
    return invalidArgument("state '" + std::string(toString(state)) +
                           "' is the Service's own; set ready or attached");
  }
  if (entry->record.state == state) return {};
  entry->record.state = state;
  listener_.imageChanged(entry->record);
  return {};
}

std::vector<const ImageRecord*> Service::Impl::images() const {
  std::vector<const ImageRecord*> out;
  for (const PoolEntry* entry : pool_.entries()) out.push_back(&entry->record);
  return out;
}

const ImageRecord* Service::Impl::findImage(std::string_view id) const {
  const PoolEntry* entry = pool_.find(id);
  return entry == nullptr ? nullptr : &entry->record;
}

uint64_t Service::Impl::allocatedBytes(std::string_view id) const {
  const PoolEntry* entry = pool_.find(id);
  return entry == nullptr ? 0 : entry->allocated;
}

uint64_t Service::Impl::freeBytes() const {
  auto available = pool_.availableBytes();
  uint64_t bytes = available.ok() ? *available : 0;
  return bytes > config_.poolReserve ? bytes - config_.poolReserve : 0;
}

PoolStatus Service::Impl::poolStatus() const {
  PoolStatus status;
  status.path = pool_.path();
  status.quota = config_.poolQuota;
  status.used = pool_.usedBytes();
  status.free = started_ ? freeBytes() : 0;
  status.imageCount = static_cast<uint32_t>(pool_.size());
  status.templateBytes = templates_.bytes();
  status.allocated = pool_.allocatedTotal();
  status.quotaAllocated = config_.poolQuotaAllocated;
  status.highWater = config_.poolHighWater;
  status.reserve = config_.poolReserve;
  status.spaceState = spaceState_;
  status.encryption = config_.poolEncryption;
  status.discard = config_.poolDiscard;
  return status;
}

void Service::Impl::shutdown(bool cancel, std::function<void()> done) {
  stopping_ = true;
  allocator_.stopSpares();
  if (cancel) jobs_->cancelAll();
  shutdownDone_ = std::move(done);
  maybeFinishShutdown();
}

void Service::Impl::maybeFinishShutdown() {
  if (!stopping_ || !shutdownDone_ || allocator_.active() != 0 || exportsRunning_ != 0 ||
      !deleting_.empty()) {
    return;
  }
  ctx_.post(std::exchange(shutdownDone_, nullptr));
}

void Service::Impl::deleteParked(std::string name, uint64_t bytes) {
  uint64_t number = ++deletionsBegun_;
  deleting_.insert(number);
  auto unlink = [dir = pool_.releasedFd(), name] {
    if (unlinkat(dir, name.c_str(), 0) != 0 && errno != ENOENT) {
      logLine(LogLevel::kWarning, "cannot delete the released image file " +
                                      std::string(kReleasedDirName) + "/" + name + " (" +
                                      std::strerror(errno) + "); it goes at the next start");
    }
    // The commit that frees its blocks is made here, not by the next allocation's fsync.
    fsync(dir);
  };
  const ServiceContext& ctx = ctx_;
  // deletions_ has one lane's use: its first, which any of its threads takes.
  Submitted queued = deletions_.submit(Lane::kVmStart, [this, &ctx, unlink, number, bytes] {
    unlink();
    ctx.post([this, number, bytes] { parkedDeleted(number, bytes); });
  });
  if (queued != Submitted::kQueued) {
    unlink();
    parkedDeleted(number, bytes);
  }
}

void Service::Impl::parkedDeleted(uint64_t number, uint64_t bytes) {
  pool_.parkedDeleted(bytes);
  deleting_.erase(number);
  std::vector<std::function<void()>> ready;
  std::erase_if(deletionWaiters_, [&](DeletionWaiter& waiter) {
    auto pending = deleting_.lower_bound(waiter.first);
    if (pending != deleting_.end() && *pending <= waiter.last) return false;
    ready.push_back(std::move(waiter.then));
    return true;
  });
  for (auto& then : ready) then();
  maybeFinishShutdown();  // a release's answer is part of the work in progress
}

void Service::Impl::afterDeletions(uint64_t first, std::function<void()> then) {
  auto pending = deleting_.lower_bound(first);
  if (pending == deleting_.end()) return then();  // numbers past deletionsBegun_ never exist
  deletionWaiters_.push_back({first, deletionsBegun_, std::move(then)});
}

}  // namespace virtscratch::daemon
