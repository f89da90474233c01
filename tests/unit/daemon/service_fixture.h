// A Service over a pool in a TempDir, with the fakes of fakes.h and the FakeImageEngine, and
// helpers that run the loop until an asynchronous call has answered. ServiceOnRealEngine runs the
// engine of image/ instead, for the tests that check images with the tools users trust.
//
// With the fake, the mkfs tools on PATH are traps (mkfs_trap.h): a test that reached the real
// engine fails in TearDown.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "daemon/image_engine.h"
#include "daemon/service.h"
#include "tests/support/test_util.h"
#include "tests/unit/daemon/fake_image_engine.h"
#include "tests/unit/daemon/fakes.h"
#include "tests/unit/daemon/mkfs_trap.h"

namespace virtscratch::daemon::fake {

using ::virtscratch::test::CommandResult;
using ::virtscratch::test::TempDir;

inline constexpr const char* kDomainA = "aaaaaaaa-1111-4222-8333-444444444444";
inline constexpr const char* kDomainB = "bbbbbbbb-1111-4222-8333-444444444444";
inline constexpr uid_t kNobody = 65534;  // in group nogroup on Debian

// nobody as the bus would report its connection: uid and group nogroup.
inline Caller nobodyCaller() {
  Caller caller;
  caller.uid = kNobody;
  caller.groups = {65534};
  return caller;
}

class ServiceTest : public ::testing::Test {
 protected:
  // Before any Service starts: setenv is not thread-safe.
  void SetUp() override {
    if (!realEngine_) trap_ = std::make_unique<MkfsTrap>();
  }

  Config baseConfig() const {
    Config c;
    c.poolPath = dir.file("pool");
    c.templateMode = TemplateMode::kOff;
    return c;
  }

  Service& startService(Config c) {
    service.reset();
    service = std::make_unique<Service>(std::move(c), loop, listener, resolver, engine());
    auto report = service->start();
    EXPECT_TRUE(report.ok()) << report.status().message();
    if (report.ok()) startReport = *report;
    return *service;
  }
  Service& startService() { return startService(baseConfig()); }

  static AllocateRequest request(const std::string& domain, uint64_t size,
                                 const std::string& target = "vdb") {
    AllocateRequest r;
    r.domain = domain;
    r.spec.image.size = size;
    r.spec.sizeGiven = true;
    r.spec.image.format = image::ImageFormat::kRaw;
    r.spec.target = target;
    return r;
  }

  Result<ImageRecord> allocate(AllocateRequest r, Caller caller = {}) {
    return allocateOn(*service, std::move(r), caller);
  }
  // The same on another Service beside `service` (on the same loop).
  Result<ImageRecord> allocateOn(Service& on, AllocateRequest r, Caller caller = {}) {
    std::optional<Result<ImageRecord>> out;
    on.allocate(caller, std::move(r),
                [&](Result<ImageRecord> result) { out.emplace(std::move(result)); });
    EXPECT_TRUE(loop.runUntil([&] { return out.has_value(); })) << "allocate never answered";
    if (!out) return Status(ErrorCode::kFailed, "no answer");
    return *out;
  }

  // Runs the loop until the job has completed; its status.
  Status waitForJob(uint64_t id) {
    auto done = [&] {
      for (const auto& [job, status] : listener.completed) {
        if (job.id == id) return true;
      }
      return false;
    };
    EXPECT_TRUE(loop.runUntil(done)) << "job " << id << " never completed";
    for (const auto& [job, status] : listener.completed) {
      if (job.id == id) return status;
    }
    return Status(ErrorCode::kFailed, "no completion");
  }

  // Shuts `which` down, running the loop until it has stopped, and destroys it.
  void stopService(std::unique_ptr<Service>& which) {
    bool stopped = false;
    which->shutdown(true, [&] { stopped = true; });
    EXPECT_TRUE(loop.runUntil([&] { return stopped; }));
    which.reset();
  }

  void TearDown() override {
    if (service) stopService(service);
    if (trap_) {
      EXPECT_EQ(trap_->reached(), "") << "the fake engine's test ran a real mkfs tool";
      trap_.reset();
    }
  }

  ImageEngine& engine() {
    if (realEngine_) return real_;
    return fakeEngine;
  }

  TempDir dir;
  FakeLoop loop;
  FakeListener listener;
  FakeResolver resolver;
  FakeImageEngine fakeEngine;
  std::unique_ptr<Service> service;
  std::string startReport;

 protected:
  bool realEngine_ = false;  // set by ServiceOnRealEngine before SetUp

 private:
  EngineImageEngine real_;
  std::unique_ptr<MkfsTrap> trap_;
};

// The same, over the real engine: images made with mkfs and checked with blkid, qemu-img, fsck.
class ServiceOnRealEngine : public ServiceTest {
 protected:
  ServiceOnRealEngine() { realEngine_ = true; }
};

// blkid's view of a raw image: TYPE, UUID, LABEL...
inline std::map<std::string, std::string> probe(const std::string& path) {
  CommandResult r = ::virtscratch::test::run({"blkid", "-p", "-o", "export", path});
  return ::virtscratch::test::parseExport(r.out);
}

}  // namespace virtscratch::daemon::fake
