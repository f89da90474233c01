// A fixed set of threads that run blocking work (mkfs, copies, export) off the main loop. Tasks
// hand their results back with LoopInvoker::post; the pool itself knows nothing of the loop.
// submit() and stop() may be called from any thread except a worker's own.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace virtscratch::daemon {

class WorkerPool {
 public:
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (and the task dropped) once stop() has begun.
  bool submit(std::function<void()> task);

  // Stops taking tasks, runs the ones queued already, and joins the threads. Tasks that should
  // end early must be told so first (their jobs cancelled).
  void stop();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace virtscratch::daemon
