#include "daemon/jobs.h"

#include <gtest/gtest.h>

#include <thread>

#include "tests/unit/daemon/fakes.h"

namespace virtscratch::daemon {
namespace {

using fake::FakeListener;
using fake::FakeLoop;

TEST(Jobs, ProgressReachesTheListenerAtMostEvery200Milliseconds) {
  FakeLoop loop;
  FakeListener listener;
  auto table = JobTable::create(loop, listener);
  std::shared_ptr<Job> job = table->add("export");
  ASSERT_EQ(listener.jobsAdded.size(), 1u);
  auto start = std::chrono::steady_clock::now();
  std::thread worker([&] {
    for (uint64_t i = 1; i <= 200000; ++i) job->report(i, 200000);
  });
  worker.join();
  loop.drain();
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_GE(listener.progress.size(), 1u);
  EXPECT_LE(listener.progress.size(), 1 + static_cast<size_t>(elapsed / kProgressInterval));
  for (size_t i = 1; i < listener.progress.size(); ++i) {
    EXPECT_GE(listener.progress[i].second - listener.progress[i - 1].second, kProgressInterval);
  }
  JobInfo info = job->info();
  EXPECT_EQ(info.bytes, 200000u);
  EXPECT_DOUBLE_EQ(info.progress, 1.0);
  EXPECT_EQ(info.operation, "export");
}

TEST(Jobs, CompleteOnceAndDropProgressThatArrivesLater) {
  FakeLoop loop;
  FakeListener listener;
  auto table = JobTable::create(loop, listener);
  std::shared_ptr<Job> job = table->add("allocate");
  job->report(1, 2);  // posts a progress the loop has not run yet
  table->complete(job->id(), Status(ErrorCode::kCancelled, "cancelled"));
  table->complete(job->id(), {});
  loop.drain();
  ASSERT_EQ(listener.completed.size(), 1u);
  EXPECT_EQ(listener.completed[0].second.code(), ErrorCode::kCancelled);
  EXPECT_TRUE(listener.progress.empty());
  EXPECT_TRUE(table->list().empty());
}

TEST(Jobs, AJobAddedQuietlyIsHeardOfOnlyOnceAnnounced) {
  FakeLoop loop;
  FakeListener listener;
  auto table = JobTable::create(loop, listener);
  std::shared_ptr<Job> quiet = table->add("allocate", false);
  quiet->report(1, 2);
  loop.drain();
  table->complete(quiet->id(), {});
  EXPECT_TRUE(listener.jobsAdded.empty());
  EXPECT_TRUE(listener.progress.empty());
  EXPECT_TRUE(listener.completed.empty()) << "a job nobody heard of does not complete on the bus";

  std::shared_ptr<Job> later = table->add("allocate", false);
  EXPECT_TRUE(table->list().empty()) << "not listed before it is announced";
  table->announce(later->id());
  table->announce(later->id());
  ASSERT_EQ(listener.jobsAdded.size(), 1u) << "announced once";
  EXPECT_EQ(listener.jobsAdded[0].id, later->id());
  ASSERT_EQ(table->list().size(), 1u);
  table->complete(later->id(), {});
  ASSERT_EQ(listener.completed.size(), 1u);
  EXPECT_EQ(listener.completed[0].first.id, later->id());
}

TEST(Jobs, CancelIsSeenByTheWorkersSink) {
  FakeLoop loop;
  FakeListener listener;
  auto table = JobTable::create(loop, listener);
  std::shared_ptr<Job> a = table->add("export");
  std::shared_ptr<Job> b = table->add("export");
  EXPECT_NE(a->id(), b->id());
  EXPECT_FALSE(a->cancelled());
  table->find(a->id())->cancel();
  EXPECT_TRUE(a->cancelled());
  EXPECT_FALSE(b->cancelled());
  table->cancelAll();
  EXPECT_TRUE(b->cancelled());
  EXPECT_EQ(table->list().size(), 2u);
}

TEST(Jobs, ProgressPostedAfterTheTableIsGoneIsDropped) {
  FakeLoop loop;
  FakeListener listener;
  std::shared_ptr<Job> job;
  {
    auto table = JobTable::create(loop, listener);
    job = table->add("export");
    job->report(1, 2);
  }
  loop.drain();
  EXPECT_TRUE(listener.progress.empty());
}

}  // namespace
}  // namespace virtscratch::daemon
