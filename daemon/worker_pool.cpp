#include "daemon/worker_pool.h"

#include <algorithm>
#include <string>

namespace virtscratch::daemon {

Status notQueued(Submitted submitted, size_t limit) {
  if (submitted == Submitted::kStopping) return {ErrorCode::kBusy, "the daemon is shutting down"};
  return {ErrorCode::kBusy, std::to_string(limit) +
                                " operations wait for the daemon's workers already (the limit, " +
                                "[jobs] queue); try again shortly"};
}

WorkerPool::WorkerPool(unsigned threads, size_t queueLimit) : queueLimit_(queueLimit) {
  threads = std::max(threads, 2u);
  threads_.reserve(threads);
  // Every thread exists before any runs: canTakeBackground() reads the count.
  std::lock_guard lock(mutex_);
  for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(); }

Submitted WorkerPool::submit(Lane lane, std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return Submitted::kStopping;
    auto& queue = lane == Lane::kVmStart ? vmStart_ : background_;
    if (queue.size() >= queueLimit_) return Submitted::kFull;
    queue.push_back(std::move(task));
  }
  // Every waiting thread checks: the one woken might not be allowed background work.
  wake_.notify_all();
  return Submitted::kQueued;
}

void WorkerPool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> task;
    bool background = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] {
        return !vmStart_.empty() || (!background_.empty() && canTakeBackground()) ||
               (stopping_ && background_.empty());
      });
      if (!vmStart_.empty()) {
        task = std::move(vmStart_.front());
        vmStart_.pop_front();
      } else if (!background_.empty() && canTakeBackground()) {
        task = std::move(background_.front());
        background_.pop_front();
        background = true;
        ++backgroundRunning_;
      } else {
        return;  // stopping, and nothing left to run
      }
    }
    task();
    if (background) {
      {
        std::lock_guard lock(mutex_);
        --backgroundRunning_;
      }
      wake_.notify_all();
    }
  }
}

}  // namespace virtscratch::daemon
