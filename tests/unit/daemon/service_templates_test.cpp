// The warm path's pool logic on the FakeImageEngine: what the engine is asked (a template is
// built once, later allocations clone it with their own UUID) and how long a template lives (an
// overlay keeps it; releasing the last one frees it). The images themselves are checked on the
// real engine in service_files_test.cpp (WarmPath).
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "daemon/templates.h"
#include "image/size.h"
#include "tests/support/tmpfs_mount.h"
#include "tests/unit/daemon/service_fixture.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kMiB;
using ::virtscratch::test::TmpfsMount;
using Op = FakeImageEngine::Op;

// The template files (not spares, not descriptions) in `dir`.
std::vector<std::string> templateFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  while (dirent* e = d ? readdir(d.get()) : nullptr) {
    std::string name = e->d_name;
    if (name.ends_with(".qcow2") && name.find(".spare-") == std::string::npos) out.push_back(name);
  }
  return out;
}

AllocateRequest warmRequest(const std::string& domain, const std::string& target = "vdb") {
  AllocateRequest r;
  r.domain = domain;
  r.spec.image.size = 128 * kMiB;
  r.spec.sizeGiven = true;
  r.spec.image.format = image::ImageFormat::kQcow2;
  r.spec.image.label = "warm";
  r.spec.target = target;
  return r;
}

class WarmPathLogic : public ServiceTest, public ::testing::WithParamInterface<TemplateMode> {};

TEST_P(WarmPathLogic, ATemplateIsBuiltOnceAndEveryImageIsAClone) {
  Config c = baseConfig();
  c.templateMode = GetParam();
  startService(c);
  auto first = allocate(warmRequest(kDomainA));
  ASSERT_TRUE(first.ok()) << first.status().message();
  auto second = allocate(warmRequest(kDomainB));
  ASSERT_TRUE(second.ok()) << second.status().message();

  auto calls = fakeEngine.calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(fakeEngine.count(Op::kCreate), 1u);
  EXPECT_EQ(calls[0].op, Op::kCreate);
  EXPECT_TRUE(calls[0].spec.uuid.empty()) << "a template has no UUID of its own to keep";
  EXPECT_EQ(calls[0].spec.label, "warm");
  EXPECT_EQ(calls[0].spec.size, 128 * kMiB);
  // Each image is a clone of that template (the second perhaps by way of a spare), with the UUID
  // in its record.
  for (const ImageRecord& image : {*first, *second}) {
    bool cloned = false;
    for (const auto& call : calls) {
      if (call.op != Op::kClone || call.uuid != image.filesystemUuid) continue;
      cloned = true;
      EXPECT_NE(call.source.find("/.templates/" + calls[0].name), std::string::npos) << call.source;
    }
    EXPECT_TRUE(cloned) << image.id << " was not cloned with its UUID " << image.filesystemUuid;
  }
  EXPECT_NE(first->filesystemUuid, second->filesystemUuid);
}

TEST_P(WarmPathLogic, ConcurrentAllocationsOfOneSpecWaitForOneTemplate) {
  Config c = baseConfig();
  c.templateMode = GetParam();
  startService(c);
  std::vector<Result<ImageRecord>> results;
  for (const char* domain : {kDomainA, kDomainB}) {
    service->allocate({}, warmRequest(domain),
                      [&](Result<ImageRecord> r) { results.push_back(r); });
  }
  ASSERT_TRUE(loop.runUntil([&] { return results.size() == 2; }));
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(fakeEngine.count(Op::kCreate), 1u);
}

INSTANTIATE_TEST_SUITE_P(Modes, WarmPathLogic,
                         ::testing::Values(TemplateMode::kReflink, TemplateMode::kOverlay));

// A template holds an empty filesystem: an image with content is made cold, with its content,
// whatever the template mode.
TEST_P(WarmPathLogic, AnImageWithContentIsNeverAClone) {
  TempDir roots;
  ::virtscratch::test::writeFileAt(roots.file("hello.txt"), 0, "hello\n");
  Config c = baseConfig();
  c.templateMode = GetParam();
  c.contentRoots = {roots.path()};
  startService(c);
  for (const char* domain : {kDomainA, kDomainB}) {
    AllocateRequest r = warmRequest(domain);
    r.spec.image.contentDir = roots.path();
    auto made = allocate(r);
    ASSERT_TRUE(made.ok()) << made.status().message();
  }
  EXPECT_EQ(fakeEngine.count(Op::kClone), 0u);
  ASSERT_EQ(fakeEngine.count(Op::kCreate), 2u);
  for (const auto& call : fakeEngine.calls()) {
    EXPECT_FALSE(call.spec.contentDir.empty()) << call.name << " was made without its content";
  }
}

// A spare's rename is the whole allocation: it answers before the spare is made again (the
// refill's reads, copy and fsync would otherwise run beside it), and no job comes and goes on the
// bus for it.
TEST_F(ServiceTest, ASpareIsTakenWithoutAJobAndMadeAgainOnlyAfterTheAnswer) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kReflink;
  startService(c);
  ASSERT_TRUE(allocate(warmRequest(kDomainA)).ok());
  std::string templates = dir.file("pool/.templates");
  auto spares = [&] {
    std::vector<std::string> uuids;
    std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(templates.c_str()), closedir);
    while (dirent* e = d ? readdir(d.get()) : nullptr) {
      std::string name = e->d_name;
      if (auto at = name.find(".spare-"); at != std::string::npos) {
        uuids.push_back(name.substr(at + 7, 36));
      }
    }
    return uuids;
  };
  ASSERT_TRUE(loop.runUntil([&] { return spares().size() == TemplateCache::kSpares; },
                            std::chrono::seconds(20)));
  // A restart: the spares are ready and nothing is being made.
  stopService(service);
  startService(c);
  std::vector<std::string> ready = spares();
  size_t jobsBefore = listener.jobsAdded.size();
  size_t completedBefore = listener.completed.size();

  fakeEngine.hold(Op::kClone);
  std::optional<Result<ImageRecord>> answer;
  size_t refillsAtAnswer = 0;
  service->allocate({}, warmRequest(kDomainB), [&](Result<ImageRecord> result) {
    refillsAtAnswer = fakeEngine.waiting(Op::kClone);
    answer.emplace(std::move(result));
  });
  ASSERT_TRUE(loop.runUntil([&] { return answer.has_value(); }));
  ASSERT_TRUE(answer->ok()) << answer->status().message();
  EXPECT_NE(std::find(ready.begin(), ready.end(), (*answer)->filesystemUuid), ready.end())
      << "not a spare: " << (*answer)->filesystemUuid;
  EXPECT_EQ(refillsAtAnswer, 0u) << "the spare was being made again before the answer";
  EXPECT_EQ(listener.jobsAdded.size(), jobsBefore) << "a job object for a rename";
  EXPECT_EQ(listener.completed.size(), completedBefore);
  EXPECT_TRUE(fakeEngine.awaitWaiting(Op::kClone, 1)) << "the spare is never made again";
  fakeEngine.release(Op::kClone);

  // An allocation that builds (here a template's first clone with a UUID of its own) has its job.
  AllocateRequest own = warmRequest(kDomainA, "vdc");
  own.spec.image.uuid = "0b7e7c5a-8a2c-4c4e-9d55-3c1f3a5b6d7e";
  ASSERT_TRUE(allocate(own).ok());
  EXPECT_EQ(listener.jobsAdded.size(), jobsBefore + 1);
  EXPECT_EQ(listener.completed.size(), completedBefore + 1);
}

TEST_F(ServiceTest, AColdPathIsTakenWhenTemplatesAreOff) {
  startService();  // templates off
  ASSERT_TRUE(allocate(warmRequest(kDomainA)).ok());
  ASSERT_TRUE(allocate(warmRequest(kDomainB)).ok());
  EXPECT_EQ(fakeEngine.count(Op::kCreate), 2u);
  EXPECT_EQ(fakeEngine.count(Op::kClone), 0u);
}

TEST_F(ServiceTest, ABrokenTemplateCostsTimeNeverTheAllocation) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kReflink;
  startService(c);
  fakeEngine.failWith(Status(ErrorCode::kFailed, "mkfs.ext4 exploded"));
  auto refused = allocate(warmRequest(kDomainA));
  EXPECT_FALSE(refused.ok());  // the cold build fails the same way
  fakeEngine.failWith({});
  auto image = allocate(warmRequest(kDomainA));
  ASSERT_TRUE(image.ok()) << image.status().message();
}

// A pool on a tmpfs: no reflink there, so mode overlay makes qcow2 overlays on the template.
class OverlayTemplates : public ServiceTest {
 protected:
  void SetUp() override {
    ServiceTest::SetUp();
    tmpfs_ = std::make_unique<TmpfsMount>(dir.file("pool"), 256 * kMiB, "0711");
    if (!tmpfs_->mounted()) GTEST_SKIP() << "cannot mount a tmpfs: " << tmpfs_->error();
  }
  void TearDown() override {
    ServiceTest::TearDown();
    tmpfs_.reset();
  }
  std::unique_ptr<TmpfsMount> tmpfs_;
};

TEST_F(OverlayTemplates, OverlaysKeepTheirTemplateAndTheLastReleaseFreesIt) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kOverlay;
  c.templateBudget = 1;  // any template nobody uses is over it
  startService(c);
  auto a = allocate(warmRequest(kDomainA));
  auto b = allocate(warmRequest(kDomainB));
  ASSERT_TRUE(a.ok() && b.ok());
  for (const auto& call : fakeEngine.calls()) {
    if (call.op == Op::kClone) {
      EXPECT_TRUE(call.overlay) << call.name;
    }
  }
  std::string templates = dir.file("pool/.templates");
  ASSERT_EQ(templateFiles(templates).size(), 1u);
  loop.drain();

  ASSERT_TRUE(service->releaseImage({}, a->id).ok());
  loop.drain();
  EXPECT_EQ(templateFiles(templates).size(), 1u) << "evicted while an overlay uses it";

  ASSERT_TRUE(service->releaseImage({}, b->id).ok());
  // Spares still being made keep the template until they are done.
  EXPECT_TRUE(loop.runUntil([&] { return templateFiles(templates).empty(); }));
  EXPECT_EQ(service->poolStatus().templateBytes, 0u);
}

TEST_F(OverlayTemplates, AnOverlayKeepsItsTemplateAcrossARestart) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kOverlay;
  c.templateBudget = 1;
  startService(c);
  auto a = allocate(warmRequest(kDomainA));
  ASSERT_TRUE(a.ok()) << a.status().message();
  service.reset();  // spares in flight are dropped; the overlay's template stays
  startService(c);
  std::string templates = dir.file("pool/.templates");
  EXPECT_EQ(templateFiles(templates).size(), 1u) << startReport;
  ASSERT_TRUE(service->releaseImage({}, a->id).ok());
  EXPECT_TRUE(loop.runUntil([&] { return templateFiles(templates).empty(); }));
}

}  // namespace
}  // namespace virtscratch::daemon::fake
