// The Service coordinates; the work is in its parts: planAllocation (checks), Allocator (cold and
// warm builds), Pool and recoverPool (files and records), TemplateCache, JobTable, exporter,
// ContentRoots, WorkerPool.
#include "daemon/service.h"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "daemon/access.h"
#include "daemon/allocate_request.h"
#include "daemon/allocator.h"
#include "daemon/exporter.h"
#include "daemon/jobs.h"
#include "daemon/log.h"
#include "daemon/pool.h"
#include "daemon/pool_recovery.h"
#include "daemon/service_context.h"
#include "daemon/templates.h"
#include "daemon/worker_pool.h"
#include "image/size.h"
#include "vocabulary/domain_uuid.h"

namespace virtscratch::daemon {
namespace {

unsigned workerCount() {
  // Image work is mostly waiting on the disk and on mkfs; a few threads keep one slow request
  // from holding up the rest without oversubscribing a small host.
  return std::clamp(std::thread::hardware_concurrency(), 2u, 4u);
}

Status shuttingDown() { return {ErrorCode::kBusy, "the daemon is shutting down"}; }
Status notStarted() { return failed("the pool is not open yet (Service::start was not called)"); }

}  // namespace

class Service::Impl {
 public:
  Impl(Config config, LoopInvoker& loop, ServiceListener& listener, DomainResolver& resolver)
      : config_(std::move(config)),
        listener_(listener),
        resolver_(resolver),
        pool_(config_.poolPath),
        templates_(config_.templateMode, config_.templateBudget),
        jobs_(JobTable::create(loop, listener)),
        content_(config_.contentRoots),
        workers_(workerCount()),
        ctx_{config_, loop, listener, pool_, templates_, *jobs_, workers_, alive_},
        allocator_(ctx_) {
    allocator_.setIdleCallback([this] { maybeFinishShutdown(); });
  }

  ~Impl() {
    allocator_.stopSpares();
    jobs_->cancelAll();
    workers_.stop();
  }

  Result<std::string> start();
  void allocate(const Caller& caller, AllocateRequest request,
                std::function<void(Result<ImageRecord>)> done);
  Status checkRoom(const AllocationPlan& plan) const;
  Status removeImage(std::string_view id, std::string_view reason);
  Result<std::string> domainToRelease(std::string_view domain);
  Result<uint32_t> releaseDomain(std::string_view domain, std::string_view reason);
  Status checkReleasable(std::string_view id) const;
  // Asks the probe about `paths` of domain `uuid`, then runs `release` unless one is in use.
  void askThenRelease(const std::string& uuid, std::vector<std::string> paths,
                      std::function<void(Status)> refused, std::function<void()> release);
  Status checkDisksPerDomain(const AllocationPlan& plan) const;
  Result<uint64_t> startExport(std::string_view id, ExportParams params);
  void exportDone(const std::string& id, uint64_t jobId, const Status& status);
  bool busy(std::string_view id) const {
    return allocator_.inFlight(id) || exporting_.count(std::string(id)) != 0;
  }
  void maybeFinishShutdown();
  uint64_t freeBytes() const {
    auto available = pool_.availableBytes();
    uint64_t bytes = available.ok() ? *available : 0;
    return bytes > config_.poolReserve ? bytes - config_.poolReserve : 0;
  }

  Config config_;
  ServiceListener& listener_;
  DomainResolver& resolver_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  Pool pool_;
  TemplateCache templates_;
  std::shared_ptr<JobTable> jobs_;
  AttachmentProbe* probe_ = nullptr;
  ContentRoots content_;
  WorkerPool workers_;
  ServiceContext ctx_;
  Allocator allocator_;
  std::map<std::string, int> exporting_;  // image id -> exports running
  size_t exportsRunning_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  std::function<void()> shutdownDone_;
};

Result<std::string> Service::Impl::start() {
  if (started_) return failed("the pool is open already");
  VS_RETURN_IF_ERROR(pool_.open());
  if (config_.poolReserve == 0 && config_.poolReservePercent >= 0) {
    VS_ASSIGN_OR_RETURN(uint64_t total, pool_.totalBytes());
    config_.poolReserve =
        static_cast<uint64_t>(static_cast<long double>(total) * config_.poolReservePercent / 100);
  }
  VS_ASSIGN_OR_RETURN(Recovery recovery, recoverPool(pool_.fd(), pool_.path()));
  std::set<std::string> referenced;
  for (const StoredRecord& s : recovery.images) {
    if (!s.templateName.empty()) referenced.insert(s.templateName);
  }
  VS_ASSIGN_OR_RETURN(std::string templates, templates_.open(pool_.fd(), pool_.path(), referenced));
  for (StoredRecord& s : recovery.images) {
    if (!s.templateName.empty()) {
      if (templates_.byName(s.templateName) == nullptr) {
        recovery.leftAlone.push_back("'" + s.record.id + "' (its template " + s.templateName +
                                     " is missing)");
      }
      templates_.retain(s.templateName);
    }
    pool_.insert(std::move(s));
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
  auto plan = planAllocation(request, config_, resolver_, content_);
  if (!plan.ok()) return fail(plan.status());
  if (plan->content) plan->content->reader = caller;
  if (const PoolEntry* existing = pool_.find(plan->id)) {
    ctx_.post([done = std::move(done), record = existing->record] { done(record); });
    return;
  }
  if (allocator_.inFlight(plan->id)) return allocator_.join(plan->id, std::move(done));
  if (Status s = checkDisksPerDomain(*plan); !s.ok()) return fail(s);
  if (Status s = checkRoom(*plan); !s.ok()) return fail(s);
  allocator_.start(std::move(*plan), std::move(done));
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

Status Service::Impl::removeImage(std::string_view id, std::string_view reason) {
  VS_ASSIGN_OR_RETURN(PoolEntry removed, pool_.remove(id));
  if (!removed.templateName.empty()) {
    templates_.release(removed.templateName);
    templates_.evict();
  }
  const std::string& uuid = removed.record.domainUuid;
  if (!allocator_.domainInFlight(uuid) && pool_.idsInDomain(uuid).empty()) {
    pool_.removeDomainDirIfEmpty(uuid);
  }
  removed.record.state = ImageState::kReleasing;
  listener_.imageRemoved(removed.record, reason);
  return {};
}

Result<std::string> Service::Impl::domainToRelease(std::string_view domain) {
  if (!started_) return notStarted();
  std::string uuid;
  if (vocabulary::isUuid(domain)) {
    uuid = vocabulary::normaliseUuid(domain);
  } else {
    auto resolved = resolveDomain(domain, resolver_);
    if (resolved.ok()) {
      uuid = resolved->uuid;
    } else {
      // A domain undefined already is still known by the name in its records. Only a name that
      // libvirt does not know qualifies: an empty or malformed one would match the records of
      // images allocated by UUID, which have no name.
      if (domain.empty() || resolved.status().code() != ErrorCode::kNotFound) {
        return resolved.status();
      }
      for (const PoolEntry* e : pool_.entries()) {
        if (e->record.domainName == domain) uuid = e->record.domainUuid;
      }
      if (uuid.empty()) return resolved.status();
    }
  }
  return uuid;
}

Result<uint32_t> Service::Impl::releaseDomain(std::string_view domain, std::string_view reason) {
  VS_ASSIGN_OR_RETURN(std::string uuid, domainToRelease(domain));
  if (allocator_.domainInFlight(uuid)) {
    return Status(ErrorCode::kBusy, "an image of domain " + uuid +
                                        " is being created; release it once Allocate returned");
  }
  std::vector<std::string> ids = pool_.idsInDomain(uuid);
  for (const std::string& id : ids) {
    if (busy(id)) {
      return Status(ErrorCode::kBusy, "image " + id + " is being exported; cancel or wait");
    }
  }
  uint32_t released = 0;
  for (const std::string& id : ids) {
    VS_RETURN_IF_ERROR(removeImage(id, reason));
    ++released;
  }
  return released;
}

Status Service::Impl::checkReleasable(std::string_view id) const {
  if (!started_) return notStarted();
  if (busy(id)) {
    return {ErrorCode::kBusy, "image " + std::string(id) +
                                  " is being created or exported; release it once that is done"};
  }
  if (pool_.find(id) == nullptr) {
    return {ErrorCode::kNotFound, "no image '" + std::string(id) + "'"};
  }
  return {};
}

void Service::Impl::askThenRelease(const std::string& uuid, std::vector<std::string> paths,
                                   std::function<void(Status)> refused,
                                   std::function<void()> release) {
  std::weak_ptr<int> alive = alive_;
  probe_->inUse(uuid, std::move(paths), [alive, uuid, refused, release](Result<DomainUse> use) {
    if (alive.expired()) return;
    if (!use.ok()) {
      return refused({ErrorCode::kBusy,
                      "cannot tell whether domain " + uuid + " runs with its scratch disks (" +
                          use.status().message() + "); pass force to release anyway"});
    }
    if (use->attachedPaths.empty()) return release();
    std::string files;
    for (const std::string& path : use->attachedPaths) files += (files.empty() ? "" : ", ") + path;
    std::string name = use->name.empty() ? uuid : use->name + " (" + uuid + ")";
    refused({ErrorCode::kBusy, files + " is attached to the running domain " + name +
                                   "; shut the domain down or detach the disk first, or pass " +
                                   "force to release anyway"});
  });
}

Result<uint64_t> Service::Impl::startExport(std::string_view id, ExportParams params) {
  if (!started_) return notStarted();
  if (stopping_) return shuttingDown();
  const PoolEntry* entry = pool_.find(id);
  if (entry == nullptr) {
    if (allocator_.inFlight(id)) {
      return Status(ErrorCode::kBusy, "image " + std::string(id) + " is still being created");
    }
    return Status(ErrorCode::kNotFound, "no image '" + std::string(id) + "'");
  }
  VS_ASSIGN_OR_RETURN(ExportTask task, prepareExport(pool_, entry->record, std::move(params)));
  VS_ASSIGN_OR_RETURN(task.source, poolImageSource(*entry, templates_));
  std::shared_ptr<Job> job = jobs_->add("export");
  std::string key(id);
  ++exporting_[key];
  ++exportsRunning_;
  const ServiceContext& ctx = ctx_;
  uint64_t jobId = job->id();
  bool queued = workers_.submit([this, &ctx, key, jobId, task, job] {
    Status status = runExport(task, job.get());
    ctx.post([this, key, jobId, status] { exportDone(key, jobId, status); });
  });
  if (!queued) ctx_.post([this, key, jobId] { exportDone(key, jobId, shuttingDown()); });
  return jobId;
}

void Service::Impl::exportDone(const std::string& id, uint64_t jobId, const Status& status) {
  if (auto it = exporting_.find(id); it != exporting_.end() && --it->second == 0) {
    exporting_.erase(it);
  }
  --exportsRunning_;
  jobs_->complete(jobId, status);
  maybeFinishShutdown();
}

void Service::Impl::maybeFinishShutdown() {
  if (!stopping_ || !shutdownDone_ || allocator_.active() != 0 || exportsRunning_ != 0) return;
  ctx_.post(std::exchange(shutdownDone_, nullptr));
}

// ---- Service: the public face, one line per method where it can be.

Service::Service(Config config, LoopInvoker& loop, ServiceListener& listener,
                 DomainResolver& resolver)
    : impl_(std::make_unique<Impl>(std::move(config), loop, listener, resolver)) {}

Service::~Service() = default;

Result<std::string> Service::start() { return impl_->start(); }

void Service::allocate(const Caller& caller, AllocateRequest request,
                       std::function<void(Result<ImageRecord>)> done) {
  impl_->allocate(caller, std::move(request), std::move(done));
}

Result<uint32_t> Service::releaseDomain(const Caller& /*caller*/, std::string_view domain,
                                        std::string_view reason) {
  return impl_->releaseDomain(domain, reason);
}

Status Service::releaseImage(const Caller& /*caller*/, std::string_view id,
                             std::string_view reason) {
  VS_RETURN_IF_ERROR(impl_->checkReleasable(id));
  return impl_->removeImage(id, reason);
}

void Service::releaseImage(const Caller& caller, std::string_view id, ReleaseOptions options,
                           std::function<void(Status)> done) {
  if (Status s = impl_->checkReleasable(id); !s.ok()) return done(s);
  if (options.force || impl_->probe_ == nullptr) return done(releaseImage(caller, id));
  const ImageRecord& record = impl_->pool_.find(id)->record;
  impl_->askThenRelease(
      record.domainUuid, {record.path}, done,
      [this, caller, id = std::string(id), done] { done(releaseImage(caller, id)); });
}

void Service::releaseDomain(const Caller& caller, std::string_view domain, ReleaseOptions options,
                            std::function<void(Result<uint32_t>)> done) {
  auto uuid = impl_->domainToRelease(domain);
  if (!uuid.ok()) return done(uuid.status());
  std::vector<std::string> paths;
  for (const std::string& id : impl_->pool_.idsInDomain(*uuid)) {
    paths.push_back(impl_->pool_.find(id)->record.path);
  }
  if (options.force || impl_->probe_ == nullptr || paths.empty()) {
    return done(releaseDomain(caller, *uuid));
  }
  impl_->askThenRelease(
      *uuid, std::move(paths), [done](Status refused) { done(refused); },
      [this, caller, uuid = *uuid, done] { done(releaseDomain(caller, uuid)); });
}

void Service::setAttachmentProbe(AttachmentProbe* probe) { impl_->probe_ = probe; }

uint32_t Service::releaseByLifetime(std::string_view domainUuid,
                                    std::vector<vocabulary::Lifetime> lifetimes,
                                    std::string_view reason) {
  if (!impl_->started_ || !vocabulary::isUuid(domainUuid)) return 0;
  uint32_t released = 0;
  for (const std::string& id : impl_->pool_.idsInDomain(vocabulary::normaliseUuid(domainUuid))) {
    const PoolEntry* entry = impl_->pool_.find(id);
    if (std::find(lifetimes.begin(), lifetimes.end(), entry->record.lifetime) == lifetimes.end()) {
      continue;
    }
    if (impl_->busy(id)) {
      logLine(LogLevel::kWarning,
              "image " + id + " is busy; it was not released (" + std::string(reason) + ")");
      continue;
    }
    Status status = impl_->removeImage(id, reason);
    if (status.ok()) {
      ++released;
    } else {
      logLine(LogLevel::kError, "releasing " + id + ": " + status.message());
    }
  }
  return released;
}

Status Service::setState(std::string_view id, ImageState state) {
  PoolEntry* entry = impl_->pool_.find(id);
  if (entry == nullptr) return {ErrorCode::kNotFound, "no image '" + std::string(id) + "'"};
  if (state != ImageState::kReady && state != ImageState::kAttached) {
    return invalidArgument("state '" + std::string(toString(state)) +
                           "' is the Service's own; set ready or attached");
  }
  if (entry->record.state == state) return {};
  entry->record.state = state;
  impl_->listener_.imageChanged(entry->record);
  return {};
}

std::vector<const ImageRecord*> Service::images() const {
  std::vector<const ImageRecord*> out;
  for (const PoolEntry* entry : impl_->pool_.entries()) out.push_back(&entry->record);
  return out;
}

const ImageRecord* Service::findImage(std::string_view id) const {
  const PoolEntry* entry = impl_->pool_.find(id);
  return entry == nullptr ? nullptr : &entry->record;
}

uint64_t Service::allocatedBytes(std::string_view id) const {
  const PoolEntry* entry = impl_->pool_.find(id);
  return entry == nullptr ? 0 : impl_->pool_.allocatedBytes(entry->record);
}

Result<uint64_t> Service::startExport(const Caller& /*caller*/, std::string_view id,
                                      ExportParams params) {
  return impl_->startExport(id, std::move(params));
}

Status Service::cancelJob(const Caller& /*caller*/, uint64_t jobId) {
  std::shared_ptr<Job> job = impl_->jobs_->find(jobId);
  if (!job) return {ErrorCode::kNotFound, "no job " + std::to_string(jobId)};
  job->cancel();
  return {};
}

std::vector<JobInfo> Service::jobs() const { return impl_->jobs_->list(); }

PoolStatus Service::poolStatus() const {
  PoolStatus status;
  status.path = impl_->pool_.path();
  status.quota = impl_->config_.poolQuota;
  status.used = impl_->pool_.usedBytes();
  status.free = impl_->started_ ? impl_->freeBytes() : 0;
  status.imageCount = static_cast<uint32_t>(impl_->pool_.size());
  status.templateBytes = impl_->templates_.bytes();
  return status;
}

void Service::shutdown(bool cancel, std::function<void()> done) {
  impl_->stopping_ = true;
  impl_->allocator_.stopSpares();
  if (cancel) impl_->jobs_->cancelAll();
  impl_->shutdownDone_ = std::move(done);
  impl_->maybeFinishShutdown();
}

}  // namespace virtscratch::daemon
