// The Service's allocation rules: the refusals (access, quota, space, content, bad fields) leave
// nothing behind and ask the engine for nothing (FakeImageEngine); real images in a TempDir pool,
// checked with blkid, qemu-img and debugfs, where what is checked is the image itself.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>

#include "image/size.h"
#include "tests/unit/daemon/service_fixture.h"
#include "vocabulary/image_id.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kMiB;
using ::virtscratch::test::fileExists;
using ::virtscratch::test::run;

TEST_F(ServiceOnRealEngine, AllocateMakesARealImageAndRecordsIt) {
  startService();
  AllocateRequest r = request(kDomainA, 64 * kMiB);
  r.spec.image.label = "scratch";
  r.spec.lifetime = vocabulary::Lifetime::kDomain;
  auto record = allocate(r);
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->id, vocabulary::imageIdOf(kDomainA, "vdb"));
  EXPECT_EQ(record->path, dir.file("pool/") + kDomainA + "/vdb.raw");
  EXPECT_EQ(record->state, ImageState::kReady);
  EXPECT_EQ(record->lifetime, vocabulary::Lifetime::kDomain);
  EXPECT_GT(record->createdUs, 0u);
  auto fs = probe(record->path);
  EXPECT_EQ(fs["TYPE"], "ext4");
  EXPECT_EQ(fs["LABEL"], "scratch");
  EXPECT_EQ(fs["UUID"], record->filesystemUuid);
  EXPECT_TRUE(fileExists(dir.file("pool/") + kDomainA + "/vdb.record"));
  ASSERT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(listener.added[0].id, record->id);
  ASSERT_EQ(listener.jobsAdded.size(), 1u);
  EXPECT_EQ(listener.jobsAdded[0].operation, "allocate");
  ASSERT_EQ(listener.completed.size(), 1u);
  EXPECT_TRUE(listener.completed[0].second.ok());
  ASSERT_EQ(service->images().size(), 1u);
  EXPECT_EQ(service->findImage(record->id)->filesystemUuid, record->filesystemUuid);
  EXPECT_GT(service->allocatedBytes(record->id), 0u);
  EXPECT_TRUE(service->jobs().empty());
}

TEST_F(ServiceOnRealEngine, AllocatesQcow2ThatQemuImgChecks) {
  startService();
  AllocateRequest r = request(kDomainA, 256 * kMiB);
  r.spec.image.format = image::ImageFormat::kQcow2;
  r.spec.image.filesystem = image::Filesystem::kXfs;
  r.spec.image.partition = image::PartitionTable::kGpt;
  r.spec.image.size = 400 * kMiB;
  auto record = allocate(r);
  ASSERT_TRUE(record.ok()) << record.status().message();
  auto check = run({"qemu-img", "check", record->path});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  auto info = run({"qemu-img", "info", record->path});
  EXPECT_NE(info.out.find("virtual size: 400 MiB"), std::string::npos) << info.out;
}

TEST_F(ServiceTest, ResolvesDomainNamesAndWorksOutSizePerVcpu) {
  startService();
  resolver.names["web1"] = kDomainB;
  AllocateRequest r = request("web1", 0);
  r.spec.sizeGiven = false;
  r.spec.sizePerVcpu = 16 * kMiB;
  r.spec.vcpus = 4;
  r.spec.image.filesystem = image::Filesystem::kNone;
  auto record = allocate(r);
  ASSERT_TRUE(record.ok()) << record.status().message();
  EXPECT_EQ(record->domainUuid, kDomainB);
  EXPECT_EQ(record->domainName, "web1");
  EXPECT_EQ(record->spec.size, 64 * kMiB);
  struct stat st;
  ASSERT_EQ(stat(record->path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 64 * kMiB);
  auto calls = fakeEngine.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].op, FakeImageEngine::Op::kCreate);
  EXPECT_EQ(calls[0].spec.size, 64 * kMiB);
  EXPECT_EQ(calls[0].spec.uuid, record->filesystemUuid);  // the record's UUID is the one asked
}

TEST_F(ServiceTest, ReallocatingTheSameTargetReturnsTheSameImage) {
  startService();
  auto first = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(first.ok()) << first.status().message();
  std::string upper = kDomainA;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  AllocateRequest again = request(upper, 128 * kMiB);  // the same domain, written otherwise
  auto second = allocate(again);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(second->filesystemUuid, first->filesystemUuid);
  EXPECT_EQ(second->spec.size, 64 * kMiB);
  EXPECT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(fakeEngine.calls().size(), 1u);  // made once, never again
}

TEST_F(ServiceTest, ConcurrentRequestsForOneTargetGetOneImage) {
  startService();
  std::vector<Result<ImageRecord>> results;
  for (int i = 0; i < 3; ++i) {
    service->allocate({}, request(kDomainA, 64 * kMiB),
                      [&](Result<ImageRecord> r) { results.push_back(r); });
  }
  ASSERT_TRUE(loop.runUntil([&] { return results.size() == 3; }));
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->filesystemUuid, results[0]->filesystemUuid);
  }
  EXPECT_EQ(listener.added.size(), 1u);
  EXPECT_EQ(fakeEngine.count(FakeImageEngine::Op::kCreate), 1u);
}

TEST_F(ServiceTest, QuotaExceededLeavesNothing) {
  Config c = baseConfig();
  c.poolQuota = 100 * kMiB;
  startService(c);
  ASSERT_TRUE(allocate(request(kDomainA, 64 * kMiB)).ok());
  auto refused = allocate(request(kDomainA, 64 * kMiB, "vdc"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kQuotaExceeded);
  EXPECT_NE(refused.status().message().find("64 MiB"), std::string::npos);
  EXPECT_NE(refused.status().message().find("quota of 100 MiB"), std::string::npos)
      << refused.status().message();
  auto elsewhere = allocate(request(kDomainB, 64 * kMiB));
  EXPECT_EQ(elsewhere.status().code(), ErrorCode::kQuotaExceeded);
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainB));
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA + "/vdc.raw"));
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA + "/vdc.record"));
  PoolStatus status = service->poolStatus();
  EXPECT_EQ(status.quota, 100 * kMiB);
  EXPECT_EQ(status.used, 64 * kMiB);
  EXPECT_EQ(status.imageCount, 1u);
  EXPECT_GT(status.free, 0u);
}

TEST_F(ServiceTest, NoSpaceWhenTheReserveTakesTheDisk) {
  Config c = baseConfig();
  c.poolReserve = uint64_t{1} << 62;
  startService(c);
  auto refused = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kNoSpace) << refused.status().message();
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA));
  EXPECT_EQ(service->poolStatus().free, 0u);
  EXPECT_TRUE(fakeEngine.calls().empty());
}

TEST_F(ServiceTest, PreallocatedImagesNeedTheirWholeSizeFree) {
  startService();
  AllocateRequest r = request(kDomainA, uint64_t{60} << 40);  // 60 TiB: more than any test disk
  r.spec.image.preallocation = image::Preallocation::kFalloc;
  auto refused = allocate(r);
  EXPECT_EQ(refused.status().code(), ErrorCode::kNoSpace) << refused.status().message();
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA));
}

TEST_F(ServiceOnRealEngine, ContentComesOnlyFromUnderAContentRoot) {
  TempDir roots;
  ASSERT_EQ(mkdir(roots.file("seed").c_str(), 0755), 0);
  ::virtscratch::test::writeFileAt(roots.file("seed/hello.txt"), 0, "hello\n");
  ASSERT_EQ(symlink("/etc", roots.file("escape").c_str()), 0);
  ASSERT_EQ(symlink("seed", roots.file("inside").c_str()), 0);
  Config c = baseConfig();
  c.contentRoots = {roots.path()};
  startService(c);

  for (const std::string& content :
       {std::string("/etc"), roots.file("escape"), roots.file("seed/../../")}) {
    AllocateRequest r = request(kDomainA, 64 * kMiB);
    r.spec.image.contentDir = content;
    auto refused = allocate(r);
    EXPECT_EQ(refused.status().code(), ErrorCode::kAccessDenied)
        << content << ": " << refused.status().message();
  }
  AllocateRequest missing = request(kDomainA, 64 * kMiB);
  missing.spec.image.contentDir = roots.file("nothing-here");
  EXPECT_EQ(allocate(missing).status().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA));

  AllocateRequest r = request(kDomainA, 64 * kMiB);
  r.spec.image.contentDir = roots.file("inside");  // a symlink that stays under the root
  auto record = allocate(r);
  ASSERT_TRUE(record.ok()) << record.status().message();
  auto cat = run({"debugfs", "-R", "cat /hello.txt", record->path});
  EXPECT_EQ(cat.out, "hello\n") << cat.err;
}

TEST_F(ServiceTest, ContentIsRefusedWhenNoRootIsConfigured) {
  startService();
  AllocateRequest r = request(kDomainA, 64 * kMiB);
  r.spec.image.contentDir = dir.path();
  auto refused = allocate(r);
  EXPECT_EQ(refused.status().code(), ErrorCode::kAccessDenied);
  EXPECT_NE(refused.status().message().find("[content] roots"), std::string::npos);
}

struct BadRequest {
  const char* what;
  std::function<void(AllocateRequest&)> change;
  ErrorCode code;
};

TEST_F(ServiceTest, BadFieldsAreRefusedByNameAndLeaveNothing) {
  startService();
  std::vector<BadRequest> cases = {
      {"size and size-per-vcpu",
       [](AllocateRequest& r) {
         r.spec.sizePerVcpu = kMiB;
         r.spec.vcpus = 2;
       },
       ErrorCode::kInvalidArgument},
      {"size-per-vcpu without vcpus",
       [](AllocateRequest& r) {
         r.spec.sizeGiven = false;
         r.spec.image.size = 0;
         r.spec.sizePerVcpu = kMiB;
       },
       ErrorCode::kInvalidArgument},
      {"size-per-vcpu overflow",
       [](AllocateRequest& r) {
         r.spec.sizeGiven = false;
         r.spec.image.size = 0;
         r.spec.sizePerVcpu = uint64_t{1} << 62;
         r.spec.vcpus = 8;
       },
       ErrorCode::kInvalidArgument},
      {"zero size", [](AllocateRequest& r) { r.spec.image.size = 0; }, ErrorCode::kInvalidArgument},
      {"huge size", [](AllocateRequest& r) { r.spec.image.size = uint64_t{1} << 60; },
       ErrorCode::kQuotaExceeded},  // past [limits] max-size
      {"path-like target", [](AllocateRequest& r) { r.spec.target = "../vdb"; },
       ErrorCode::kInvalidArgument},
      {"label too long",
       [](AllocateRequest& r) { r.spec.image.label = "a-label-that-is-too-long"; },
       ErrorCode::kInvalidArgument},
      {"label with a control character", [](AllocateRequest& r) { r.spec.image.label = "a\tb"; },
       ErrorCode::kInvalidArgument},
      {"bad uuid", [](AllocateRequest& r) { r.spec.image.uuid = "not-a-uuid"; },
       ErrorCode::kInvalidArgument},
      {"path-like domain", [](AllocateRequest& r) { r.domain = "../../etc"; },
       ErrorCode::kInvalidArgument},
      {"non-UTF-8 domain", [](AllocateRequest& r) { r.domain = "web\xff"; },
       ErrorCode::kInvalidArgument},
      {"empty domain", [](AllocateRequest& r) { r.domain = ""; }, ErrorCode::kInvalidArgument},
      {"unknown domain", [](AllocateRequest& r) { r.domain = "nosuchvm"; }, ErrorCode::kNotFound},
  };
  for (const BadRequest& bad : cases) {
    AllocateRequest r = request(kDomainA, 64 * kMiB);
    bad.change(r);
    auto result = allocate(r);
    ASSERT_FALSE(result.ok()) << bad.what;
    EXPECT_EQ(result.status().code(), bad.code) << bad.what << ": " << result.status().message();
  }
  EXPECT_EQ(::virtscratch::test::run(
                {"find", dir.file("pool"), "-mindepth", "1", "!", "-path", "*/.templates"})
                .out,
            "");
  EXPECT_TRUE(listener.added.empty());
  EXPECT_TRUE(listener.jobsAdded.empty());
  EXPECT_TRUE(fakeEngine.calls().empty());
}

TEST_F(ServiceTest, ShutdownWaitsForAllocationsAndThenRefusesNewOnes) {
  startService();
  std::optional<Result<ImageRecord>> result;
  bool stopped = false;
  service->allocate({}, request(kDomainA, 64 * kMiB),
                    [&](Result<ImageRecord> r) { result.emplace(std::move(r)); });
  service->shutdown(false, [&] {
    EXPECT_TRUE(result.has_value()) << "shutdown finished before the allocation";
    stopped = true;
  });
  ASSERT_TRUE(loop.runUntil([&] { return stopped; }));
  ASSERT_TRUE(result->ok()) << result->status().message();
  auto refused = allocate(request(kDomainA, 64 * kMiB, "vdc"));
  EXPECT_EQ(refused.status().code(), ErrorCode::kBusy);
}

TEST_F(ServiceTest, RefusesWorkBeforeStart) {
  service = std::make_unique<Service>(baseConfig(), loop, listener, resolver, fakeEngine);
  auto refused = allocate(request(kDomainA, 64 * kMiB));
  EXPECT_FALSE(refused.ok());
  EXPECT_FALSE(fileExists(dir.file("pool")));
  EXPECT_TRUE(fakeEngine.calls().empty());
}

// The seam itself: the trap on PATH notices the real engine, so a fake test that reached it
// would fail.
TEST_F(ServiceTest, TheMkfsTrapCatchesTheRealEngine) {
  MkfsTrap trap;
  EngineImageEngine real;
  image::ImageSpec spec;
  spec.size = 64 * kMiB;
  spec.format = image::ImageFormat::kRaw;
  spec.filesystem = image::Filesystem::kExt4;
  image::CreateOptions options;
  UniqueFd at(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_FALSE(real.create(at.get(), "trapped.raw", spec, options).ok());
  EXPECT_NE(trap.reached(), "");
}

}  // namespace
}  // namespace virtscratch::daemon::fake
