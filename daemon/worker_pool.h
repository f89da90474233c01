// A fixed set of threads that run blocking work (mkfs, copies, export) off the main loop, in two
// lanes so that a starting VM never waits behind long work:
//   kVmStart     allocations (the hook's and the watcher's: a VM is starting or runs) and the
//                template builds they wait for; taken first, by any thread;
//   kBackground  exports and spare refills; they never hold the last thread, which stays free
//                for the next VM start.
// Each lane queues at most `queueLimit` tasks that have not begun; past it submit() answers
// kFull and the caller says Busy. Tasks hand their results back with LoopInvoker::post; the pool
// itself knows nothing of the loop. submit() and stop() may be called from any thread except a
// worker's own.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"

namespace virtscratch::daemon {

enum class Lane { kVmStart, kBackground };

enum class Submitted {
  kQueued,
  kStopping,  // stop() has begun: the task was dropped
  kFull,      // the lane's queue is at its limit: the task was dropped
};

// The error for a task that was not queued (kBusy either way); `limit` is the lane's queue limit.
Status notQueued(Submitted submitted, size_t limit);

class WorkerPool {
 public:
  // At least two threads, so that background work can run while one stays free.
  WorkerPool(unsigned threads, size_t queueLimit);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  Submitted submit(Lane lane, std::function<void()> task);

  // Stops taking tasks, runs the ones queued already, and joins the threads. Tasks that should
  // end early must be told so first (their jobs cancelled).
  void stop();

  size_t threads() const { return threads_.size(); }
  size_t queueLimit() const { return queueLimit_; }

 private:
  void run();
  bool canTakeBackground() const { return backgroundRunning_ + 1 < threads_.size(); }

  const size_t queueLimit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> vmStart_;     // guarded by mutex_
  std::deque<std::function<void()>> background_;  // guarded by mutex_
  size_t backgroundRunning_ = 0;                  // guarded by mutex_
  bool stopping_ = false;                         // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace virtscratch::daemon
