// The Service's scheduling: a starting VM's Allocate is never held up by exports (the lanes of
// worker_pool.h and the [jobs] exports cap), waiting work is bounded ([jobs] queue), and an
// allocation whose every caller has left the bus is cancelled and leaves nothing in the pool. The
// fake engine holds operations on their workers so the order can be seen.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/daemon/service_fixture.h"

namespace virtscratch::daemon::fake {
namespace {

using Op = FakeImageEngine::Op;
using ::virtscratch::test::fileExists;

constexpr uint64_t kMiB = 1 << 20;

UniqueFd newOutput(const std::string& path) {
  return UniqueFd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
}

class ServiceLanesTest : public ServiceTest {
 protected:
  void TearDown() override {
    fakeEngine.release(Op::kCreate);
    fakeEngine.release(Op::kExport);
    ServiceTest::TearDown();
  }

  // Allocate without waiting: the answer lands in the returned slot when the loop runs.
  std::shared_ptr<std::optional<Result<ImageRecord>>> allocateLater(AllocateRequest r,
                                                                    Caller caller = {}) {
    auto answer = std::make_shared<std::optional<Result<ImageRecord>>>();
    service->allocate(caller, std::move(r),
                      [answer](Result<ImageRecord> result) { answer->emplace(std::move(result)); });
    return answer;
  }

  uint64_t exportImage(const std::string& id, const std::string& file) {
    auto job = service->startExport({}, id, {newOutput(out.file(file)), 1, 1});
    EXPECT_TRUE(job.ok()) << job.status().message();
    return job.ok() ? *job : 0;
  }

  TempDir out;
};

TEST_F(ServiceLanesTest, AllocateIsServedWhileExportsHoldTheirWorkers) {
  // As many exports allowed and asked for as the Service has workers at most (4): without the
  // lanes they would hold every worker.
  constexpr unsigned kExports = 4;
  Config config = baseConfig();
  config.concurrentExports = kExports;
  startService(config);
  auto a = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(a.ok());

  fakeEngine.hold(Op::kExport);
  std::vector<uint64_t> jobs;
  for (unsigned i = 0; i < kExports; ++i) {
    jobs.push_back(exportImage(a->id, std::to_string(i) + ".gz"));
  }
  ASSERT_TRUE(fakeEngine.awaitWaiting(Op::kExport, 1));

  auto started = allocate(request(kDomainA, 64 * kMiB, "vdc"));
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_TRUE(fileExists(started->path));
  EXPECT_LT(fakeEngine.waiting(Op::kExport), kExports) << "exports took every worker";

  fakeEngine.release(Op::kExport);
  for (uint64_t job : jobs) EXPECT_TRUE(waitForJob(job).ok());
  EXPECT_EQ(fakeEngine.count(Op::kExport), kExports);
}

TEST_F(ServiceLanesTest, ExportsPastTheCapWaitTheirTurnAndPastTheQueueAreBusy) {
  Config config = baseConfig();
  config.concurrentExports = 1;
  config.queueLimit = 1;
  startService(config);
  auto a = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(a.ok());

  fakeEngine.hold(Op::kExport);
  uint64_t running = exportImage(a->id, "1.gz");
  ASSERT_TRUE(fakeEngine.awaitWaiting(Op::kExport, 1));
  uint64_t waiting = exportImage(a->id, "2.gz");
  auto refused = service->startExport({}, a->id, {newOutput(out.file("3.gz")), 1, 1});
  EXPECT_EQ(refused.status().code(), ErrorCode::kBusy);
  EXPECT_NE(refused.status().message().find("[jobs] queue"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(service->jobs().size(), 2u);  // both are jobs; one runs
  EXPECT_EQ(fakeEngine.waiting(Op::kExport), 1u);

  // Cancelled while waiting, it ends at once; the running one is not disturbed.
  ASSERT_TRUE(service->cancelJob({}, waiting).ok());
  EXPECT_EQ(waitForJob(waiting).code(), ErrorCode::kCancelled);
  EXPECT_EQ(fakeEngine.waiting(Op::kExport), 1u);
  fakeEngine.release(Op::kExport);
  EXPECT_TRUE(waitForJob(running).ok());
  EXPECT_EQ(fakeEngine.count(Op::kExport), 1u);
  // The image is releasable once its exports have ended.
  EXPECT_TRUE(service->releaseImage({}, a->id).ok());
}

TEST_F(ServiceLanesTest, AllocationWhoseCallerLeftIsCancelledAndLeavesNothing) {
  startService();
  Caller hook;
  hook.sender = ":1.7";
  fakeEngine.hold(Op::kCreate);
  auto answer = allocateLater(request(kDomainA, 64 * kMiB), hook);
  ASSERT_TRUE(fakeEngine.awaitWaiting(Op::kCreate, 1));

  service->callerGone(":1.9");  // someone else: nothing happens
  service->callerGone(":1.7");
  fakeEngine.release(Op::kCreate);  // the build had begun: it ends, and its image is deleted
  ASSERT_TRUE(loop.runUntil([&] { return answer->has_value(); }));
  EXPECT_EQ((*answer)->status().code(), ErrorCode::kCancelled) << (*answer)->status().message();
  EXPECT_TRUE(service->images().empty());
  EXPECT_TRUE(listener.added.empty());
  EXPECT_FALSE(std::filesystem::exists(dir.file("pool") + "/" + kDomainA))
      << "the cancelled allocation left its domain directory";
  ASSERT_EQ(listener.completed.size(), 1u);
  EXPECT_EQ(listener.completed[0].second.code(), ErrorCode::kCancelled);

  // The same image asked for again is made as usual.
  auto again = allocate(request(kDomainA, 64 * kMiB), hook);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_TRUE(fileExists(again->path));
}

TEST_F(ServiceLanesTest, AllocationAnotherCallerWaitsForGoesOn) {
  startService();
  Caller hook, tool;
  hook.sender = ":1.7";
  tool.sender = ":1.8";
  fakeEngine.hold(Op::kCreate);
  auto first = allocateLater(request(kDomainA, 64 * kMiB), hook);
  auto second = allocateLater(request(kDomainA, 64 * kMiB), tool);
  auto daemonItself = allocateLater(request(kDomainB, 64 * kMiB));  // the watcher: no sender
  ASSERT_TRUE(fakeEngine.awaitWaiting(Op::kCreate, 2));
  service->callerGone(":1.7");
  service->callerGone("");  // never matches the daemon's own calls
  fakeEngine.release(Op::kCreate);
  ASSERT_TRUE(loop.runUntil(
      [&] { return first->has_value() && second->has_value() && daemonItself->has_value(); }));
  ASSERT_TRUE((*second)->ok()) << (*second)->status().message();
  EXPECT_TRUE(fileExists((**second)->path));
  EXPECT_TRUE((*daemonItself)->ok()) << (*daemonItself)->status().message();
  EXPECT_EQ(service->images().size(), 2u);
}

}  // namespace
}  // namespace virtscratch::daemon::fake
