// The worker pool's lanes: background work never takes the last thread, VM-start work is taken
// first, and each lane's queue is bounded.
#include "daemon/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

namespace virtscratch::daemon {
namespace {

// A latch the test opens; tasks block on it and count themselves in and out.
class Latch {
 public:
  void wait() {
    std::unique_lock lock(mutex_);
    ++inside_;
    changed_.notify_all();
    changed_.wait(lock, [this] { return open_; });
  }
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  // Waits (with a deadline) until `count` tasks are blocked on it.
  bool reached(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(20), [&] { return inside_ >= count; });
  }
  int inside() {
    std::lock_guard lock(mutex_);
    return inside_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int inside_ = 0;
  bool open_ = false;
};

TEST(WorkerPool, BackgroundWorkLeavesOneThreadForVmStarts) {
  Latch background, vmStart;
  WorkerPool pool(3, 16);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(pool.submit(Lane::kBackground, [&] { background.wait(); }), Submitted::kQueued);
  }
  ASSERT_TRUE(background.reached(2));
  ASSERT_EQ(pool.submit(Lane::kVmStart, [&] { vmStart.wait(); }), Submitted::kQueued);
  EXPECT_TRUE(vmStart.reached(1)) << "the VM start waited behind background work";
  EXPECT_EQ(background.inside(), 2) << "background work took the last thread";
  vmStart.open();
  background.open();
  pool.stop();
  EXPECT_EQ(background.inside(), 3);  // stop() runs what was queued
}

TEST(WorkerPool, EachLaneQueuesAtMostItsLimit) {
  Latch busy;
  WorkerPool pool(2, 1);
  ASSERT_EQ(pool.submit(Lane::kBackground, [&] { busy.wait(); }), Submitted::kQueued);
  ASSERT_TRUE(busy.reached(1));
  EXPECT_EQ(pool.submit(Lane::kBackground, [] {}), Submitted::kQueued);  // waits: cap reached
  EXPECT_EQ(pool.submit(Lane::kBackground, [] {}), Submitted::kFull);
  // The other lane has its own queue (and the free thread).
  EXPECT_EQ(pool.submit(Lane::kVmStart, [] {}), Submitted::kQueued);
  busy.open();
  pool.stop();
  EXPECT_EQ(pool.submit(Lane::kVmStart, [] {}), Submitted::kStopping);
  EXPECT_EQ(notQueued(Submitted::kFull, 1).code(), ErrorCode::kBusy);
}

}  // namespace
}  // namespace virtscratch::daemon
