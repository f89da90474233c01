// virt-scratchd killed with SIGKILL at random moments of 200 mixed operations: allocations cold
// and warm (templates on), releases, exports, and starts and stops of real domains whose hook
// asks the daemon for their boot disks. A kill comes at an event, never after a sleep: once the
// daemon has touched the pool for a request still in flight, once an export job reports
// progress, once a domain's start reached the pool or its guest booted, or, when the operation
// ended first, between operations while spares may still be built in the background. While the
// daemon is down some domains start (the hook fails closed, with its message) or stop. After
// every restart the pool is audited: nothing temporary or half-made, no image lost, the images
// of stopped boot-lifetime domains gone, every image (and template) clean for qemu-img check and
// e2fsck -fn, and PoolUsed equal to the sum of the files' virtual sizes.
//
// The order comes from a seed printed at the start: VS_CRASH_SEED=N repeats a run,
// VS_CRASH_OPS=N changes the number of operations and VS_CRASH_TRACE=1 prints each one.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/crash_recovery.h"

namespace virtscratch::test {

namespace fs = std::filesystem;

void CrashRecovery::restartAndAudit() {
  if (!down_) {
    ++kills_["between operations"];
    killDaemon();
  }
  if (chance(40)) {
    ++step_;
    whileDown();
  }
  ASSERT_NO_FATAL_FAILURE(startDaemon(daemon_));
  down_ = false;
  audit();
}

// Waits until no guest is half-way: hold guests have written their disk and wait (their
// filesystem is unmounted again), the others have powered off.
void CrashRecovery::settleDomains() {
  for (Vm& vm : vms_) {
    std::string state = domainState(vm.name);
    if (vm.hold) {
      EXPECT_EQ(state == "running", vm.expectRunning)
          << vm.name << " is " << state << ", which the test did not do";
      if (state == "running") {
        EXPECT_TRUE(pollUntil(
            [&] { return readFile(consolePath(vm.name)).find("VS-HOLDING") != std::string::npos; },
            90s))
            << vm.name << "'s guest did not come up:\n"
            << readFile(consolePath(vm.name));
      }
    } else if (state == "running") {
      EXPECT_TRUE(waitForState(vm.name, "shut off", 90s))
          << vm.name << "'s guest did not power off:\n"
          << readFile(consolePath(vm.name));
    }
  }
}

void CrashRecovery::audit() {
  SCOPED_TRACE(testing::Message() << "audit after step " << step_ << " (seed " << seed_ << ")");
  auto began = std::chrono::steady_clock::now();
  settleDomains();
  auto settled = std::chrono::steady_clock::now();
  std::set<std::string> mustExist, mustBeGone = released_, mayExist;
  for (const auto& [id, w] : images_) mustExist.insert(id);
  for (const auto& [id, w] : uncertain_) mayExist.insert(id);
  for (const Vm& vm : vms_) {
    if (!vm.bootLifetime) continue;
    if (domainState(vm.name) == "running") {
      mustExist.insert(vm.vdbId());
    } else {
      mustBeGone.insert(vm.vdbId());
    }
  }
  std::vector<ListedImage> listed;
  std::string problem;
  // The daemon reconciles with libvirt once it serves: what stopped while it was down goes then.
  pollUntil(
      [&] {
        listed = listImages(cli({"list", "--json"}), &problem);
        if (problem.empty()) problem = compareListing(listed, mustExist, mustBeGone, mayExist);
        return problem.empty();
      },
      30s);
  EXPECT_EQ(problem, "") << "the pool lost or kept images";

  // Released files are unlinked on a worker, after the release: let those in flight go.
  pollUntil(
      [&] {
        std::error_code error;
        return fs::is_empty(poolPath() + "/.released", error) || error;
      },
      30s);
  PoolAudit pool = auditPoolFiles(poolPath(), listed);
  EXPECT_TRUE(pool.unexpected.empty())
      << "unexpected names in the pool:\n  " << testing::PrintToString(pool.unexpected);
  templatesSeen_ = std::max(templatesSeen_, pool.templates.size());

  uint64_t sum = 0;
  for (const ListedImage& image : listed) {
    SCOPED_TRACE(image.id);
    sum += checker_->virtualSize(image.path);
    EXPECT_EQ(checker_->check(image.path, image.format, image.filesystem), "");
  }
  for (const TemplateFile& t : pool.templates) {
    EXPECT_EQ(checker_->check(t.path, t.format, t.filesystem), "") << "template " << t.path;
  }
  PoolStatus status = poolStatus(cli({"status", "--json"}));
  ASSERT_TRUE(status.ok) << "virt-scratch status --json failed";
  EXPECT_EQ(status.used, sum) << "PoolUsed is not the sum of the images' virtual sizes";
  EXPECT_EQ(status.images, listed.size());

  for (const std::string& dest : pendingExports_) {
    if (!fileExists(dest)) continue;
    EXPECT_EQ(checkExport(dest, 0), "") << "an interrupted export left " << dest;
    fs::remove(dest);
    ++exportsAudited_;
  }
  pendingExports_.clear();
  std::vector<std::string> leftovers;
  for (const auto& e : fs::directory_iterator(exportDir_)) leftovers.push_back(e.path());
  EXPECT_TRUE(leftovers.empty()) << "the exports' directory holds "
                                 << testing::PrintToString(leftovers);

  if (trace_) {
    using Ms = std::chrono::milliseconds;
    auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr,
                 "audit: %zu images, %zu templates and spares, %d checks so far; %lld ms waiting "
                 "for guests, %lld ms auditing\n",
                 listed.size(), pool.templates.size(), checker_->checked(),
                 static_cast<long long>(std::chrono::duration_cast<Ms>(settled - began).count()),
                 static_cast<long long>(std::chrono::duration_cast<Ms>(now - settled).count()));
  }
  // The listing is the truth from now on.
  images_.clear();
  for (const ListedImage& image : listed) {
    bool derived = false;
    for (const Vm& vm : vms_) derived |= vm.bootLifetime && image.id == vm.vdbId();
    if (!derived) images_[image.id] = {image.domain, image.target, image.id, image.path};
  }
  uncertain_.clear();
  released_.clear();
}

void CrashRecovery::runOperations() {
  int nextKill = 5 + static_cast<int>(pick(11));
  for (int i = 0; i < ops_ && !HasFatalFailure(); ++i) {
    bool kill = i + 1 == nextKill;
    operation(kill);
    if (kill) {
      ASSERT_NO_FATAL_FAILURE(restartAndAudit());
      nextKill = i + 1 + 5 + static_cast<int>(pick(11));
    }
  }
  ASSERT_NO_FATAL_FAILURE(restartAndAudit());
}

TEST_F(CrashRecovery, TwoHundredOperationsWithTheDaemonKilledLoseNothingAndLeaveNothing) {
  auto start = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(startDaemon(daemon_));
  ASSERT_NO_FATAL_FAILURE(defineVms());
  runOperations();

  int kills = 0;
  for (const auto& [how, n] : kills_) kills += n;
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
  std::fprintf(stderr, "crash test (seed %llu): %d steps in %llds, %d kills (%d in flight)\n",
               static_cast<unsigned long long>(seed_), step_,
               static_cast<long long>(seconds.count()), kills, killsInFlight_);
  for (const auto& [what, n] : done_) std::fprintf(stderr, "  %-28s %d\n", what.c_str(), n);
  for (const auto& [how, n] : kills_) std::fprintf(stderr, "  kill %-23s %d\n", how.c_str(), n);
  std::fprintf(stderr,
               "  starts failed closed (daemon down) %d, starts that lost the daemon %d, "
               "stops while down %d, interrupted exports found complete %d\n",
               hookFailedClosed_, startsInterrupted_, stoppedWhileDown_, exportsAudited_);
  EXPECT_GE(kills, ops_ / 15);
  EXPECT_GT(killsInFlight_, 0) << "no kill came while a request was in flight";
  EXPECT_GT(templatesSeen_, 0u) << "no template was made: the warm path was not taken";
}

}  // namespace virtscratch::test
