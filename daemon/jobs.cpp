#include "daemon/jobs.h"

#include <utility>

namespace virtscratch::daemon {
namespace {

int64_t nanosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

constexpr int64_t kIntervalNs =
    std::chrono::duration_cast<std::chrono::nanoseconds>(kProgressInterval).count();

}  // namespace

Job::Job(uint64_t id, std::string operation, LoopInvoker& loop, std::weak_ptr<JobTable> table)
    : id_(id),
      operation_(std::move(operation)),
      loop_(loop),
      table_(std::move(table)),
      start_(std::chrono::steady_clock::now()),
      lastPostNs_(-kIntervalNs) {}

void Job::report(uint64_t done, uint64_t total) {
  done_.store(done, std::memory_order_relaxed);
  total_.store(total, std::memory_order_relaxed);
  int64_t now = nanosSince(start_);
  int64_t last = lastPostNs_.load(std::memory_order_relaxed);
  if (now - last < kIntervalNs) return;
  // Several threads may report for one job (parallel export): one of them posts.
  if (!lastPostNs_.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
  loop_.post([table = table_, id = id_] {
    if (auto t = table.lock()) t->progressed(id);
  });
}

JobInfo Job::info() const {
  JobInfo info;
  info.id = id_;
  info.operation = operation_;
  info.bytes = done_.load(std::memory_order_relaxed);
  uint64_t total = total_.load(std::memory_order_relaxed);
  info.progress = total == 0 ? 0.0 : static_cast<double>(info.bytes) / static_cast<double>(total);
  if (info.progress > 1.0) info.progress = 1.0;
  int64_t ns = nanosSince(start_);
  info.rate =
      ns <= 0
          ? 0
          : static_cast<uint64_t>(static_cast<double>(info.bytes) * 1e9 / static_cast<double>(ns));
  return info;
}

std::shared_ptr<JobTable> JobTable::create(LoopInvoker& loop, ServiceListener& listener) {
  return std::shared_ptr<JobTable>(new JobTable(loop, listener));
}

std::shared_ptr<Job> JobTable::add(std::string operation, bool announce) {
  uint64_t id = nextId_++;
  auto job = std::make_shared<Job>(id, std::move(operation), loop_, weak_from_this());
  jobs_[id] = Entry{job};
  if (announce) this->announce(id);
  return job;
}

void JobTable::announce(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.announced) return;
  it->second.announced = true;
  listener_.jobAdded(it->second.job->info());
}

void JobTable::complete(uint64_t id, const Status& status) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  std::shared_ptr<Job> job = std::move(it->second.job);
  bool announced = it->second.announced;
  jobs_.erase(it);
  JobInfo info = job->info();
  if (metrics_ != nullptr) {
    metrics_->jobEnded(info.operation, status.ok()                              ? "ok"
                                       : status.code() == ErrorCode::kCancelled ? "cancelled"
                                                                                : "failed");
  }
  if (announced) listener_.jobCompleted(info, status);
}

std::shared_ptr<Job> JobTable::find(uint64_t id) const {
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second.job;
}

std::vector<JobInfo> JobTable::list() const {
  std::vector<JobInfo> out;
  out.reserve(jobs_.size());
  for (const auto& [id, entry] : jobs_) {
    if (entry.announced) out.push_back(entry.job->info());
  }
  return out;
}

void JobTable::cancelAll() {
  for (auto& [id, entry] : jobs_) entry.job->cancel();
}

void JobTable::progressed(uint64_t id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end() || !it->second.announced) return;
  auto now = std::chrono::steady_clock::now();
  // Posts leave workers at most every interval but may arrive bunched; the listener never
  // hears of one job twice within the interval.
  if (it->second.lastSent != std::chrono::steady_clock::time_point{} &&
      now - it->second.lastSent < kProgressInterval) {
    return;
  }
  it->second.lastSent = now;
  listener_.jobProgress(it->second.job->info());
}

}  // namespace virtscratch::daemon
