// The crash test's fixture: virt-scratchd killed with SIGKILL at random moments of 200 mixed
// operations: allocations cold and warm (templates on), releases, exports, and starts and stops of
// real domains whose hook asks the daemon for their boot disks. A kill comes at an event, never
// after a sleep: once the daemon has touched the pool for a request still in flight, once an export
// job reports progress, once a domain's start reached the pool or its guest booted, or, when the
// operation ended first, between operations while spares may still be built in the background.
// While the daemon is down some domains start (the hook fails closed, with its message) or stop.
// After every restart the pool is audited: nothing temporary or half-made, no image lost, the
// images of stopped boot-lifetime domains gone, every image (and template) clean for qemu-img check
// and e2fsck -fn, and PoolUsed equal to the sum of the files' virtual sizes.
//
// The order comes from a seed printed at the start: VS_CRASH_SEED=N repeats a run,
// VS_CRASH_OPS=N changes the number of operations and VS_CRASH_TRACE=1 prints each one.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/pool_audit.h"
#include "tests/e2e/pool_watch.h"
#include "tests/e2e/scratch_test.h"

namespace virtscratch::test {

inline constexpr int kDefaultOps = 200;
inline constexpr char kPaper[] = "vs-e2e-crash-p";  // defined, never started: holds images only

inline uint64_t envNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// A domain with a scratch disk vdb from `virt-scratch enable`.
struct Vm {
  std::string name;
  std::string uuid;
  bool hold = true;            // the guest stays up; otherwise it powers off by itself
  bool bootLifetime = true;    // vdb goes when the domain stops
  bool expectRunning = false;  // hold guests only: what the test did to it last
  std::string vdbId() const { return compactUuid(uuid) + "_vdb"; }
};

// An image the test asked for with `virt-scratch allocate`.
struct Wanted {
  std::string domain;  // uuid
  std::string target;
  std::string id;
  std::string path;
};

struct Spec {
  std::vector<std::string> args;
  bool warm;  // a spec the template cache keeps
};

// Cacheable specs (warm after their first allocation) and specs never cached (cold every time).
inline const std::vector<Spec>& specs() {
  static const std::vector<Spec> all = {
      {{"--size", "64M", "--label", "data"}, true},
      {{"--size", "80M", "--format", "raw", "--label", "rawdata"}, true},
      {{"--size", "96M", "--filesystem", "ext3"}, true},
      {{"--size", "72M", "--filesystem", "ext2", "--format", "raw"}, true},
      {{"--size", "64M", "--preallocation", "metadata"}, false},
      {{"--size", "48M", "--filesystem", "none"}, false},
  };
  return all;
}

enum class Trigger { kAtOnce, kPoolEvents, kOutput, kGuestBooted };

inline const char* triggerName(Trigger t) {
  switch (t) {
    case Trigger::kAtOnce:
      return "at once";
    case Trigger::kPoolEvents:
      return "pool events";
    case Trigger::kOutput:
      return "progress";
    case Trigger::kGuestBooted:
      return "guest booted";
  }
  return "?";
}

class CrashRecovery : public ScratchTest {
 protected:
  void SetUp() override {
    ScratchTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    seed_ = envNumber("VS_CRASH_SEED", std::random_device{}());
    ops_ = static_cast<int>(envNumber("VS_CRASH_OPS", kDefaultOps));
    trace_ = envNumber("VS_CRASH_TRACE", 0) != 0;
    rng_.seed(seed_);
    // Both warm paths: a data copy of the template (no reflink here) or a qcow2 overlay.
    daemon_.templates = seed_ % 2 == 0 ? "reflink" : "overlay";
    std::fprintf(stderr,
                 "crash test: seed %llu (VS_CRASH_SEED=%llu repeats it), %d operations, "
                 "templates %s\n",
                 static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_),
                 ops_, daemon_.templates.c_str());
    RecordProperty("seed", std::to_string(seed_));
    exportDir_ = dir_->file("exports");
    std::filesystem::create_directories(exportDir_);
    checker_.emplace(dir_->file("fsck.raw"));
  }

  void TearDown() override {
    if (HasFailure() && seed_ != 0) {
      std::fprintf(stderr, "crash test failed with seed %llu: VS_CRASH_SEED=%llu repeats it\n",
                   static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seed_));
    }
    ScratchTest::TearDown();
  }

  uint64_t pick(uint64_t below) {
    return std::uniform_int_distribution<uint64_t>(0, below - 1)(rng_);
  }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }

  void defineVms();
  void runOperations();
  void operation(bool kill);
  void allocate(bool kill, bool warm);
  void release(bool kill);
  void releasePaper(bool kill);
  void exportImage(bool kill);
  void vmOperation(bool kill);
  void whileDown();
  void restartAndAudit();
  void settleDomains();
  void audit();

  // Runs argv; with `kill`, as a child, killing the daemon when `trigger` fires (or when the
  // child ended first). `interrupted` tells whether the child was still running then.
  CommandResult execute(const std::vector<std::string>& argv, bool kill, Trigger trigger,
                        bool* interrupted, const std::string& console = "");
  void expectHooksMessage(const CommandResult& r, const std::string& vm);

  void trace(const std::vector<std::string>& argv, const CommandResult& r, const std::string& how);

  uint64_t seed_ = 0;
  int ops_ = kDefaultOps;
  bool trace_ = false;
  std::mt19937_64 rng_;
  DaemonOptions daemon_;
  std::string exportDir_;
  std::vector<Vm> vms_;
  std::string paperUuid_;
  PoolWatch watch_;
  std::optional<ImageChecker> checker_;

  std::map<std::string, Wanted> images_;     // listed at the last audit or made since
  std::map<std::string, Wanted> uncertain_;  // an interrupted allocate or release
  std::set<std::string> released_;           // released since the last audit
  std::set<std::string> pendingExports_;     // interrupted exports: absent or complete
  bool down_ = false;

  // What happened, for the summary.
  std::map<std::string, int> done_;
  std::map<std::string, int> kills_;  // by trigger
  int killsInFlight_ = 0;
  int hookFailedClosed_ = 0;   // starts while the daemon was down
  int startsInterrupted_ = 0;  // starts whose hook lost the daemon half-way
  int stoppedWhileDown_ = 0;   // stops the daemon missed
  int exportsAudited_ = 0;
  size_t templatesSeen_ = 0;
  int step_ = 0;
};

}  // namespace virtscratch::test
