// Carries out checked allocation plans: makes the domain directory, picks the cold or the warm
// path, runs the build on a worker, and on the loop thread records the image, tells the listener
// and calls `done`. Allocations of one template key wait for its first build and then clone it.
// Loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/allocate_request.h"
#include "daemon/image_builder.h"
#include "daemon/metrics.h"
#include "daemon/service_context.h"

namespace virtscratch::daemon {

class Allocator {
 public:
  using Done = std::function<void(Result<ImageRecord>)>;

  explicit Allocator(ServiceContext& ctx) : ctx_(ctx) {}

  // Starts the allocation for `caller` (a unique bus name; empty for the daemon itself); quota,
  // space and access were checked by the caller. `done` runs on the loop thread once the image
  // is recorded or the allocation has failed.
  void start(AllocationPlan plan, Done done, std::string caller);
  // An allocation of `id` is in flight: `done` hears its result too.
  bool inFlight(std::string_view id) const { return pending_.count(std::string(id)) != 0; }
  void join(std::string_view id, Done done, std::string caller);
  // `caller` has left the bus (the hook gave up waiting). An allocation that no one waits for
  // any more is cancelled: it stops where it can, and what it made is deleted, not recorded.
  void callerGone(const std::string& caller);
  bool domainInFlight(std::string_view domainUuid) const;
  size_t inFlightInDomain(std::string_view domainUuid) const;

  uint64_t pendingSize() const;        // virtual bytes in flight (for the quota)
  uint64_t pendingAllocation() const;  // host bytes in flight (for the free space check)
  // Host bytes of the templates and spares being built. Each is started only when it fits above
  // the reserve with everything else in flight; a template that does not is skipped (the image
  // is made cold), a spare that does not is not made.
  uint64_t backgroundBytes() const { return backgroundBytes_; }
  size_t active() const { return pending_.size(); }
  // Called on the loop thread whenever the last allocation in flight ends.
  void setIdleCallback(std::function<void()> idle) { idle_ = std::move(idle); }
  // No more spares are started, and those queued and not begun are dropped (at shutdown).
  void stopSpares() { sparesStopped_->store(true); }

 private:
  struct Pending {
    AllocationPlan plan;
    std::shared_ptr<Job> job;
    std::shared_ptr<UniqueFd> domainDir;
    std::vector<Done> done;
    std::vector<std::string> callers;  // one per `done`: bus names; empty for the daemon itself
    bool cancelled = false;            // every caller went away
    TemplateRef templateUse;           // the template it clones, kept while it does
    std::string passphrase;            // an encrypted image's key, until the store has it
    bool keyStored = false;            // the SecretStore answered (either way)
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    AllocatePath path = AllocatePath::kCold;  // as submitted; a clone that fell back is cold
    // When it took a spare: the spares to make again (makeSpares), decided when it took it, so
    // that the room they need is weighed beside this allocation's, but begun only once its
    // callers have their answer, so that the refill's reads, copy and fsync do not slow down a
    // rename. Allocations that build or clone start their refills at once.
    std::vector<std::function<void()>> refills;
  };

  void dispatch(const std::string& id);
  // An encrypted spec whose template is ready: a spare if there is one, else cold.
  void takeEncryptedSpare(const std::string& id, TemplateCache::Entry& entry);
  void submit(const std::string& id, std::unique_ptr<TemplateSource> source);
  void templateBuilt(const std::string& name, Result<uint64_t> result);
  // Starts building the spares the template lacks, on workers; with `later`, what would start
  // them is appended there instead, to be run by the caller.
  void makeSpares(const std::string& name, std::vector<std::function<void()>>* later = nullptr);
  // After submit(): makes the template's spares again, once `p` has answered if it took a spare
  // (its path, set by submit, says so), at once otherwise.
  void refillAfter(Pending& p, const std::string& name);
  void finish(const std::string& id, BuildOutcome outcome);
  // An encrypted image is made: its key goes to the SecretStore before anyone hears of it.
  void storeKey(const std::string& id, BuildOutcome outcome);
  void keyStored(const std::string& id, BuildOutcome outcome, const Status& stored);
  // Whether `bytes` more fit on the pool's filesystem above the reserve, after what is in flight.
  bool roomFor(uint64_t bytes) const;

  ServiceContext& ctx_;
  std::map<std::string, Pending> pending_;                           // by image id
  std::map<std::string, std::vector<std::string>> templateWaiters_;  // template name -> ids
  uint64_t backgroundBytes_ = 0;
  std::function<void()> idle_;
  std::shared_ptr<std::atomic<bool>> sparesStopped_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace virtscratch::daemon
