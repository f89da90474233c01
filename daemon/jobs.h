// Long operations (allocate, export) as jobs the bus shows: an id, progress with bytes and rate,
// cancel, and one completion. A Job is shared by the loop thread (JobTable) and the worker doing
// the work, which uses it as its ProgressSink. Progress reaches the listener at most every 200 ms
// per job, on the loop thread; the last one may be skipped when the job completes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/progress.h"
#include "daemon/loop_invoker.h"
#include "daemon/metrics.h"
#include "daemon/service.h"

namespace virtscratch::daemon {

class JobTable;

inline constexpr std::chrono::milliseconds kProgressInterval{200};

class Job : public ProgressSink {
 public:
  Job(uint64_t id, std::string operation, LoopInvoker& loop, std::weak_ptr<JobTable> table);

  // Worker thread: records progress and, at most every kProgressInterval, asks the loop to
  // tell the listener.
  void report(uint64_t done, uint64_t total) override;
  bool cancelled() const override { return cancelled_.load(std::memory_order_relaxed); }

  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  uint64_t id() const { return id_; }
  JobInfo info() const;  // any thread

 private:
  const uint64_t id_;
  const std::string operation_;
  LoopInvoker& loop_;
  const std::weak_ptr<JobTable> table_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> total_{0};
  std::atomic<bool> cancelled_{false};
  std::atomic<int64_t> lastPostNs_;
};

// The running jobs. Loop thread only. Made with create(): jobs refer to it weakly, so progress
// posted after the table is gone is dropped.
class JobTable : public std::enable_shared_from_this<JobTable> {
 public:
  static std::shared_ptr<JobTable> create(LoopInvoker& loop, ServiceListener& listener);

  // A new job, announced with jobAdded; with `announce` false the listener hears of it only if
  // announce() is called before it completes (an allocation that turns out to be a rename has
  // nothing to show: no object on the bus, no progress, no log line).
  std::shared_ptr<Job> add(std::string operation, bool announce = true);
  void announce(uint64_t id);
  // Announces jobCompleted once (if the job was announced), counts its outcome in the metrics
  // and forgets the job.
  void complete(uint64_t id, const Status& status);
  void setMetrics(Metrics* metrics) { metrics_ = metrics; }
  std::shared_ptr<Job> find(uint64_t id) const;
  std::vector<JobInfo> list() const;  // the announced ones
  void cancelAll();
  size_t size() const { return jobs_.size(); }

  // Posted by Job::report: tells the listener unless it heard of this job too recently.
  void progressed(uint64_t id);

 private:
  JobTable(LoopInvoker& loop, ServiceListener& listener) : loop_(loop), listener_(listener) {}

  struct Entry {
    std::shared_ptr<Job> job;
    std::chrono::steady_clock::time_point lastSent{};
    bool announced = false;
  };
  LoopInvoker& loop_;
  ServiceListener& listener_;
  std::map<uint64_t, Entry> jobs_;
  uint64_t nextId_ = 1;
  Metrics* metrics_ = nullptr;
};

}  // namespace virtscratch::daemon
