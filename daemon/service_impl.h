// The Service's implementation: owns its parts (Pool, TemplateCache, JobTable, WorkerPool,
// Allocator) and holds every rule; Service (service.h) only forwards to it. Split by
// responsibility: service_impl.cpp (start, allocate and its checks, queries, shutdown),
// service_release.cpp (release), service_export.cpp (export jobs). Loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/access.h"
#include "daemon/allocate_request.h"
#include "daemon/allocator.h"
#include "daemon/exporter.h"
#include "daemon/image_engine.h"
#include "daemon/jobs.h"
#include "daemon/pool.h"
#include "daemon/secret_store.h"
#include "daemon/service.h"
#include "daemon/service_context.h"
#include "daemon/templates.h"
#include "daemon/worker_pool.h"

namespace virtscratch::daemon {

class Service::Impl {
 public:
  Impl(Config config, LoopInvoker& loop, ServiceListener& listener, DomainResolver& resolver,
       ImageEngine& engine);
  ~Impl();

  Result<std::string> start();
  void allocate(const Caller& caller, AllocateRequest request,
                std::function<void(Result<ImageRecord>)> done);
  void callerGone(const std::string& sender) { allocator_.callerGone(sender); }

  // service_release.cpp
  void releaseImage(std::string_view id, ReleaseOptions options, std::function<void(Status)> done);
  void releaseDomain(std::string_view domain, ReleaseOptions options,
                     std::function<void(Result<uint32_t>)> done);
  Status releaseImage(std::string_view id, std::string_view reason);
  Result<uint32_t> releaseDomain(std::string_view domain, std::string_view reason,
                                 const std::vector<vocabulary::Lifetime>& lifetimes = {});
  // The domain's images whose lifetime is in `lifetimes` (every image when it is empty).
  std::vector<std::string> idsInDomain(const std::string& uuid,
                                       const std::vector<vocabulary::Lifetime>& lifetimes) const;
  uint32_t releaseByLifetime(std::string_view domainUuid,
                             const std::vector<vocabulary::Lifetime>& lifetimes,
                             std::string_view reason, uint64_t claimedUpTo);
  // The domain's images for which `which` holds, claimed up to `claimedUpTo`, not busy.
  uint32_t releaseWhere(std::string_view domainUuid,
                        const std::function<bool(const ImageRecord&)>& which,
                        std::string_view reason, uint64_t claimedUpTo);
  void settleIncoming(std::string_view domainUuid);

  // service_shared.cpp: a pool other hosts mount too (shared_pool.h).
  // Takes the owner's lock of an image found at start, or forgets it (named in `leftAlone`).
  void holdRecovered(const std::string& id, std::vector<std::string>& leftAlone);
  // The incoming image another host owns in the shared pool: checked against the plan, marked
  // for adoption and entered as `adopting`; false when the pool has no image there (it is made as
  // on a pool of one host's own).
  Result<bool> adoptIncoming(const AllocationPlan& plan);
  // Takes an adopting image over once its owner has let go of its lock, trying again every
  // kAdoptRetryMs for as many as kAdoptAttempts times.
  void adopt(const std::string& id, unsigned attempt);
  // Whether removeImage must leave the image's files to another host: one this host was adopting,
  // or one another host's marker says it adopts. Then the image is forgotten, not deleted.
  bool letGoInstead(std::string_view id, std::string_view reason);
  uint64_t claimMark() const { return pool_.lastClaim(); }
  void setAttachmentProbe(AttachmentProbe* probe) { probe_ = probe; }
  Result<UniqueFd> openKey(const Caller& caller, std::string_view id) const;
  void setSecretStore(SecretStore* store) { secrets_ = store != nullptr ? store : &memorySecrets_; }

  Status setState(std::string_view id, ImageState state);
  std::vector<const ImageRecord*> images() const;
  const ImageRecord* findImage(std::string_view id) const;
  uint64_t allocatedBytes(std::string_view id) const;

  // service_export.cpp
  Result<uint64_t> startExport(std::string_view id, ExportParams params);
  Status cancelJob(uint64_t jobId);
  std::vector<JobInfo> jobs() const { return jobs_->list(); }
  std::optional<JobInfo> findJob(uint64_t jobId) const;

  PoolStatus poolStatus() const;
  void refreshSpace();  // service_space.cpp
  const Metrics& metrics() const { return metrics_; }
  Status reconfigure(const Config& config);  // service_reload.cpp
  void shutdown(bool cancel, std::function<void()> done);

 private:
  Status checkRoom(const AllocationPlan& plan) const;
  Status checkDisksPerDomain(const AllocationPlan& plan) const;
  Status removeImage(std::string_view id, std::string_view reason);
  Result<std::string> domainToRelease(std::string_view domain);
  Status checkReleasable(std::string_view id) const;
  // Asks the probe about `paths` of domain `uuid`, then runs `release` unless one is in use.
  void askThenRelease(const std::string& uuid, std::vector<std::string> paths,
                      std::function<void(Status)> refused, std::function<void()> release);
  // Starts waiting exports while fewer than [jobs] exports run.
  void launchExports();
  void exportDone(const std::string& id, uint64_t jobId, const Status& status, bool wasActive);
  bool busy(std::string_view id) const {
    return allocator_.inFlight(id) || exporting_.count(std::string(id)) != 0;
  }
  void maybeFinishShutdown();
  // Pool::setDeleter: unlinks a parked image file on a deletion thread.
  void deleteParked(std::string name, uint64_t bytes);
  void parkedDeleted(uint64_t number, uint64_t bytes);
  // Runs `then` once the parked files numbered `first` and after, up to the last begun, are
  // deleted.
  void afterDeletions(uint64_t first, std::function<void()> then);
  // Runs `release` (on the loop) and answers `done` with its result once the files it parked are
  // deleted: the caller has its answer when the space is back, as when the unlink ran on the
  // loop, and waits for no other release's files.
  template <typename T>
  void releaseAndAnswer(const std::function<T()>& release, const std::function<void(T)>& done) {
    uint64_t first = deletionsBegun_ + 1;
    T result = release();
    if (!result.ok()) return done(std::move(result));
    afterDeletions(first, [done, result = std::move(result)] { done(result); });
  }
  uint64_t freeBytes() const;
  // A share of the pool's filesystem in bytes, for [pool] reserve and high-water given in %.
  Result<uint64_t> shareOfPool(double percent) const;
  SpaceState spaceStateOf(uint64_t allocated, uint64_t available) const;

  Config config_;
  ServiceListener& listener_;
  DomainResolver& resolver_;
  ImageEngine& engine_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  Pool pool_;
  TemplateCache templates_;
  std::shared_ptr<JobTable> jobs_;
  AttachmentProbe* probe_ = nullptr;
  ContentRoots content_;
  WorkerPool workers_;
  // Unlinks of released image files (deleteParked): threads of their own, so that a deletion
  // never waits behind an export nor takes the thread a VM start needs.
  WorkerPool deletions_;
  MemorySecretStore memorySecrets_;
  SecretStore* secrets_ = &memorySecrets_;
  Metrics metrics_;
  SpaceState spaceState_ = SpaceState::kOk;
  ServiceContext ctx_;
  Allocator allocator_;
  struct WaitingExport {
    std::string key;  // image id
    ExportTask task;
    std::shared_ptr<Job> job;
  };
  std::map<std::string, int> exporting_;  // image id -> exports not ended (running or waiting)
  // Parked files being deleted, by number, and who waits for which (afterDeletions).
  struct DeletionWaiter {
    uint64_t first, last;
    std::function<void()> then;
  };
  uint64_t deletionsBegun_ = 0;
  std::set<uint64_t> deleting_;
  std::vector<DeletionWaiter> deletionWaiters_;
  size_t exportsRunning_ = 0;  // exports not ended
  size_t exportsActive_ = 0;   // exports on a worker
  std::deque<WaitingExport> exportsWaiting_;
  bool started_ = false;
  bool stopping_ = false;
  std::function<void()> shutdownDone_;
};

// Errors the parts share.
Status shuttingDown();
Status notStarted();

}  // namespace virtscratch::daemon
