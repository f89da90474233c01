// The Service's limits that hold whatever a caller or a domain's metadata asks: disks per domain,
// the largest size, the reserve (also as a percentage) with the templates and spares counted, the
// template bytes reported; and release refused (Busy) while a running domain uses the image.
// Pool logic: on the FakeImageEngine, but for the spares' reserve, which depends on the real
// engine's sizes.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <optional>

#include "image/size.h"
#include "tests/support/tmpfs_mount.h"
#include "tests/unit/daemon/service_fixture.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kMiB;
using ::virtscratch::test::fileExists;
using ::virtscratch::test::TmpfsMount;

constexpr uint64_t kGiB = uint64_t{1} << 30;

// Host bytes of the files in `dir` (not descending), as du counts them.
uint64_t allocatedIn(const std::string& dir) {
  uint64_t total = 0;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) return 0;
  while (dirent* e = readdir(d.get())) {
    struct stat st;
    std::string path = dir + "/" + e->d_name;
    if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<uint64_t>(st.st_blocks) * 512;
    }
  }
  return total;
}

size_t spareFiles(const std::string& dir) {
  size_t count = 0;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  while (dirent* e = d ? readdir(d.get()) : nullptr) {
    count += std::string(e->d_name).find(".spare-") != std::string::npos;
  }
  return count;
}

class ServiceLimits : public ServiceTest {
 protected:
  Status release(const std::string& id, bool force = false) {
    std::optional<Status> out;
    service->releaseImage({}, id, ReleaseOptions{force, {}, {}}, [&](Status s) { out = s; });
    EXPECT_TRUE(loop.runUntil([&] { return out.has_value(); })) << "release never answered";
    return out.value_or(Status(ErrorCode::kFailed, "no answer"));
  }
  Result<uint32_t> releaseDomain(const std::string& domain, bool force = false) {
    std::optional<Result<uint32_t>> out;
    service->releaseDomain({}, domain, ReleaseOptions{force, {}, {}},
                           [&](Result<uint32_t> r) { out = r; });
    EXPECT_TRUE(loop.runUntil([&] { return out.has_value(); })) << "release never answered";
    if (!out) return Status(ErrorCode::kFailed, "no answer");
    return *out;
  }
  FakeProbe probe{loop};
};

TEST_F(ServiceLimits, RefusesADiskPastTheDomainsLimitNamingTheKey) {
  Config c = baseConfig();
  c.disksPerDomain = 2;
  startService(c);
  ASSERT_TRUE(allocate(request(kDomainA, 64 * kMiB, "vdb")).ok());
  ASSERT_TRUE(allocate(request(kDomainA, 64 * kMiB, "vdc")).ok());
  auto refused = allocate(request(kDomainA, 64 * kMiB, "vdd"));
  ASSERT_EQ(refused.status().code(), ErrorCode::kQuotaExceeded) << refused.status().message();
  EXPECT_NE(refused.status().message().find(std::string("domain ") + kDomainA +
                                            " already has 2 scratch disks, the limit [limits] "
                                            "disks-per-domain"),
            std::string::npos)
      << refused.status().message();
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA + "/vdd.raw"));
  // The images it has are still returned, and other domains have their own count.
  EXPECT_TRUE(allocate(request(kDomainA, 64 * kMiB, "vdb")).ok());
  EXPECT_TRUE(allocate(request(kDomainB, 64 * kMiB, "vdd")).ok());
}

TEST_F(ServiceLimits, CountsAllocationsInFlightAgainstTheDomainsLimit) {
  Config c = baseConfig();
  c.disksPerDomain = 2;
  startService(c);
  std::vector<Result<ImageRecord>> results;
  for (const char* target : {"vdb", "vdc", "vdd"}) {
    service->allocate({}, request(kDomainA, 64 * kMiB, target),
                      [&](Result<ImageRecord> r) { results.push_back(r); });
  }
  ASSERT_TRUE(loop.runUntil([&] { return results.size() == 3; }));
  int refused = 0;
  for (const auto& r : results) refused += r.status().code() == ErrorCode::kQuotaExceeded;
  EXPECT_EQ(refused, 1);
  EXPECT_EQ(service->images().size(), 2u);
}

TEST_F(ServiceLimits, RefusesAnImageLargerThanMaxSizeNamingTheKey) {
  Config c = baseConfig();
  c.maxImageSize = kGiB;
  startService(c);
  auto refused = allocate(request(kDomainA, kGiB + 1));
  ASSERT_EQ(refused.status().code(), ErrorCode::kQuotaExceeded) << refused.status().message();
  EXPECT_NE(refused.status().message().find("1073741825 bytes"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("1 GiB, the limit [limits] max-size"),
            std::string::npos)
      << refused.status().message();
  AllocateRequest perVcpu = request(kDomainA, 0);
  perVcpu.spec.sizeGiven = false;
  perVcpu.spec.sizePerVcpu = 512 * kMiB;
  perVcpu.spec.vcpus = 3;
  EXPECT_EQ(allocate(perVcpu).status().code(), ErrorCode::kQuotaExceeded);
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA));
  EXPECT_TRUE(allocate(request(kDomainA, kGiB)).ok());
}

TEST_F(ServiceLimits, WorksOutAPercentageReserveFromThePoolsFilesystem) {
  Config c = baseConfig();
  c.poolReservePercent = 99.5;  // more than any test disk has free
  startService(c);
  struct statvfs st;
  ASSERT_EQ(statvfs(dir.file("pool").c_str(), &st), 0);
  uint64_t reserve =
      static_cast<uint64_t>(static_cast<long double>(st.f_blocks) * st.f_frsize * 99.5 / 100);
  auto refused = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_EQ(refused.status().code(), ErrorCode::kNoSpace) << refused.status().message();
  EXPECT_NE(refused.status().message().find("reserve of " + image::formatSize(reserve)),
            std::string::npos)
      << refused.status().message();
  EXPECT_EQ(service->poolStatus().free, 0u);

  c.poolReservePercent = 0;
  startService(c);
  EXPECT_GT(service->poolStatus().free, 0u);
  EXPECT_TRUE(allocate(request(kDomainA, 64 * kMiB)).ok());
}

// A pool on a 256 MiB tmpfs (no reflink: templates and spares are data copies).
class ServiceSmallDisk : public ServiceLimits {
 protected:
  void SetUp() override {
    ServiceLimits::SetUp();
    tmpfs_ = std::make_unique<TmpfsMount>(dir.file("pool"), 256 * kMiB, "0711");
    if (!tmpfs_->mounted()) GTEST_SKIP() << "cannot mount a tmpfs: " << tmpfs_->error();
  }
  void TearDown() override {
    ServiceLimits::TearDown();
    tmpfs_.reset();
  }
  std::unique_ptr<TmpfsMount> tmpfs_;
};

TEST_F(ServiceSmallDisk, AColdTemplateBuildThatWouldPassTheReserveIsNotMade) {
  // 1 GiB of ext4: about 64 MiB counted for the image, as much again for its template. Room
  // for the image, not for both: the image is made cold and no template is kept.
  struct statvfs st;
  ASSERT_EQ(statvfs(dir.file("pool").c_str(), &st), 0);
  uint64_t available = static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
  Config c = baseConfig();
  c.templateMode = TemplateMode::kReflink;
  c.poolReservePercent = -1;
  c.poolReserve = available - 96 * kMiB;
  startService(c);
  AllocateRequest r = request(kDomainA, kGiB);
  r.spec.image.format = image::ImageFormat::kQcow2;
  auto image = allocate(r);
  ASSERT_TRUE(image.ok()) << image.status().message();
  loop.drain();
  EXPECT_EQ(service->poolStatus().templateBytes, 0u);
  EXPECT_EQ(allocatedIn(dir.file("pool/.templates")), 0u);
  EXPECT_EQ(fakeEngine.count(FakeImageEngine::Op::kCreate), 1u);  // the image, cold
  EXPECT_EQ(fakeEngine.count(FakeImageEngine::Op::kClone), 0u);

  // With room for both, the template and its spares are made, and reported.
  c.poolReserve = 0;
  startService(c);
  r.domain = kDomainB;
  ASSERT_TRUE(allocate(r).ok());
  std::string templates = dir.file("pool/.templates");
  EXPECT_TRUE(loop.runUntil([&] {
    uint64_t bytes = service->poolStatus().templateBytes;
    return bytes > 0 && bytes == allocatedIn(templates);
  })) << service->poolStatus().templateBytes
      << " reported, " << allocatedIn(templates) << " in " << templates;
}

// A spare costs what its template occupies: the real engine's, to leave room for exactly one.
class ServiceSmallDiskOnRealEngine : public ServiceSmallDisk {
 protected:
  ServiceSmallDiskOnRealEngine() { realEngine_ = true; }
};

TEST_F(ServiceSmallDiskOnRealEngine, SparesAreNotMadePastTheReserve) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kReflink;
  c.poolReserve = 0;
  c.poolReservePercent = -1;
  startService(c);
  AllocateRequest r = request(kDomainA, kGiB);
  r.spec.image.format = image::ImageFormat::kRaw;  // a raw ext4: its copies take real bytes
  ASSERT_TRUE(allocate(r).ok());
  std::string templates = dir.file("pool/.templates");
  ASSERT_TRUE(loop.runUntil([&] { return spareFiles(templates) == 2; }));
  uint64_t before = allocatedIn(templates);
  // The template and its two spares, copies of one another: a new 1 GiB ext4 as virt-scratch
  // lays it out holds well under the 256 KiB this room once left (664 KiB with resize_inode).
  uint64_t oneCopy = before / 3;
  ASSERT_GT(oneCopy, 32 * 1024u);
  // Room above the reserve for the next image (its estimate, 64 MiB and 256 KiB for 1 GiB of
  // ext4) and 16 KiB less than one more copy of the template: not for that copy.
  struct statvfs st;
  ASSERT_EQ(statvfs(dir.file("pool").c_str(), &st), 0);
  c.poolReserve = static_cast<uint64_t>(st.f_bavail) * st.f_frsize - 64 * kMiB - 256 * 1024 -
                  (oneCopy - 16 * 1024);
  startService(c);
  r.domain = kDomainB;  // takes a spare (a rename); another would not fit
  auto image = allocate(r);
  ASSERT_TRUE(image.ok()) << image.status().message();
  loop.drain();
  EXPECT_EQ(spareFiles(templates), 1u);
  EXPECT_LT(service->poolStatus().templateBytes, before);
  EXPECT_EQ(service->poolStatus().templateBytes, allocatedIn(templates));
}

TEST_F(ServiceLimits, ReleaseOfAnImageARunningDomainUsesIsBusyNamingTheDomain) {
  startService();
  service->setAttachmentProbe(&probe);
  auto image = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(image.ok()) << image.status().message();
  probe.running[kDomainA] = {"/var/lib/other.qcow2", image->path};
  probe.names[kDomainA] = "web1";
  Status busy = release(image->id);
  ASSERT_EQ(busy.code(), ErrorCode::kBusy) << busy.message();
  EXPECT_NE(busy.message().find(image->path + " is attached to the running domain web1 (" +
                                kDomainA + ")"),
            std::string::npos)
      << busy.message();
  EXPECT_NE(busy.message().find("force"), std::string::npos) << busy.message();
  ASSERT_EQ(probe.asked.size(), 1u);
  EXPECT_EQ(probe.asked[0].first, kDomainA);
  EXPECT_EQ(probe.asked[0].second, std::vector<std::string>{image->path});
  EXPECT_TRUE(fileExists(image->path));
  EXPECT_EQ(releaseDomain(kDomainA).status().code(), ErrorCode::kBusy);
  EXPECT_TRUE(fileExists(image->path));

  EXPECT_TRUE(release(image->id, true).ok());
  EXPECT_FALSE(fileExists(image->path));
  EXPECT_EQ(probe.asked.size(), 2u);  // force asks nothing
}

TEST_F(ServiceLimits, ReleaseGoesAheadWhenTheDomainDoesNotUseTheImage) {
  startService();
  service->setAttachmentProbe(&probe);
  auto a = allocate(request(kDomainA, 64 * kMiB));
  auto b = allocate(request(kDomainB, 64 * kMiB));
  ASSERT_TRUE(a.ok() && b.ok());
  probe.running[kDomainA] = {"/var/lib/other.qcow2"};  // runs, without the scratch disk
  EXPECT_TRUE(release(a->id).ok());
  EXPECT_FALSE(fileExists(a->path));
  auto released = releaseDomain(kDomainB);  // not running at all
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, 1u);
  EXPECT_FALSE(fileExists(b->path));
}

TEST_F(ServiceLimits, ReleaseIsBusyWhenLibvirtCannotBeAskedUnlessForced) {
  startService();
  service->setAttachmentProbe(&probe);
  auto image = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(image.ok());
  probe.error = Status(ErrorCode::kFailed, "not connected to libvirt at qemu:///system");
  Status busy = release(image->id);
  EXPECT_EQ(busy.code(), ErrorCode::kBusy);
  EXPECT_NE(busy.message().find("cannot tell whether domain " + std::string(kDomainA)),
            std::string::npos)
      << busy.message();
  EXPECT_NE(busy.message().find("qemu:///system"), std::string::npos) << busy.message();
  EXPECT_TRUE(fileExists(image->path));
  auto forced = releaseDomain(kDomainA, true);
  ASSERT_TRUE(forced.ok()) << forced.status().message();
  EXPECT_EQ(*forced, 1u);
}

TEST_F(ServiceLimits, WithoutAProbeReleaseIsAllowedAndRefusalsComeFirst) {
  startService();
  auto image = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(release("nothing_vdb").code(), ErrorCode::kNotFound);
  service->setAttachmentProbe(&probe);
  std::optional<Status> missing;
  service->releaseImage(Caller{}, "nothing_vdb", {}, [&](Status s) { missing = s; });
  ASSERT_TRUE(missing.has_value());  // answered at once, without asking libvirt
  EXPECT_EQ(missing->code(), ErrorCode::kNotFound);
  EXPECT_TRUE(probe.asked.empty());
  service->setAttachmentProbe(nullptr);
  EXPECT_TRUE(release(image->id).ok());
  EXPECT_FALSE(fileExists(image->path));
}

}  // namespace
}  // namespace virtscratch::daemon::fake
