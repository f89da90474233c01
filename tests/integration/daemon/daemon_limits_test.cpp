// The limits of the real daemon on the private bus: [limits] disks-per-domain and max-size refuse
// with QuotaExceeded naming the key; PoolTemplateBytes reports what the templates hold (and
// virt-scratch status shows it); Release and ReleaseDomain take their a{sv} options.
#include <dirent.h>
#include <sys/stat.h>

#include "tests/integration/daemon/daemon_fixture.h"
#include "tests/support/json_value.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr char kQuota[] = "org.virtscratch.Scratch1.Error.QuotaExceeded";
constexpr char kInvalid[] = "org.virtscratch.Scratch1.Error.InvalidArgument";

struct CallError {
  std::string name;
  std::string message;
};

CallError errorOf(const std::function<void()>& body) {
  try {
    body();
  } catch (const sdbus::Error& e) {
    return {e.getName(), e.getMessage()};
  }
  return {};
}

// Host bytes of the files in `dir`, and how many of them are spares.
std::pair<uint64_t, int> heldIn(const std::string& dir) {
  uint64_t bytes = 0;
  int spares = 0;
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  while (dirent* e = d ? readdir(d.get()) : nullptr) {
    struct stat st;
    if (lstat((dir + "/" + e->d_name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      bytes += static_cast<uint64_t>(st.st_blocks) * 512;
      spares += std::string(e->d_name).find(".spare-") != std::string::npos;
    }
  }
  return {bytes, spares};
}

using DaemonLimits = DaemonTest;

TEST_F(DaemonLimits, ADiskPastDisksPerDomainIsQuotaExceededNamingTheKey) {
  DaemonConfig config;
  config.limits = "disks-per-domain=2\n";
  startDaemon(config);
  ManagerClient manager(bus());
  allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "none", "vdb"));
  allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "none", "vdc"));
  auto error =
      errorOf([&] { allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "none", "vdd")); });
  EXPECT_EQ(error.name, kQuota) << error.message;
  EXPECT_NE(error.message.find(std::string("domain ") + kDomainA +
                               " already has 2 scratch disks, the limit [limits] disks-per-domain"),
            std::string::npos)
      << error.message;
  EXPECT_EQ(manager.ImageCount(), 2u);
  allocate(manager, kDomainB, imageSpec(64 * kMiB, "raw", "none", "vdd"));
  EXPECT_EQ(manager.ImageCount(), 3u);
}

TEST_F(DaemonLimits, ASizePastMaxSizeIsQuotaExceededNamingTheKey) {
  DaemonConfig config;
  config.limits = "max-size=1G\n";
  startDaemon(config);
  ManagerClient manager(bus());
  auto error = errorOf([&] { allocate(manager, kDomainA, imageSpec(2 * kGiB, "raw", "none")); });
  EXPECT_EQ(error.name, kQuota) << error.message;
  EXPECT_NE(error.message.find("2 GiB (2147483648 bytes) is larger than 1 GiB, the limit "
                               "[limits] max-size"),
            std::string::npos)
      << error.message;
  Spec perVcpu = {{"size-per-vcpu", sdbus::Variant(512 * kMiB)}, {"vcpus", sdbus::Variant(4u)}};
  EXPECT_EQ(errorOf([&] { allocate(manager, kDomainA, perVcpu); }).name, kQuota);
  EXPECT_EQ(poolFiles(), std::vector<std::string>{});
  ImageClient image(bus(), allocate(manager, kDomainA, imageSpec(kGiB, "raw", "none")));
  EXPECT_EQ(image.VirtualSize(), kGiB);
}

TEST_F(DaemonLimits, PoolTemplateBytesIsWhatTheTemplatesHoldAndStatusShowsIt) {
  DaemonConfig config;
  config.templates = "reflink";
  startDaemon(config);
  ManagerClient manager(bus());
  EXPECT_EQ(manager.PoolTemplateBytes(), 0u);
  allocate(manager, kDomainA, imageSpec(kGiB, "raw", "ext4"));
  std::string templates = poolPath() + "/.templates";
  // The template is made with the first image; its two spares follow in the background.
  ASSERT_TRUE(pumpUntil([&] {
    auto [bytes, spares] = heldIn(templates);
    return spares == 2 && manager.PoolTemplateBytes() == bytes;
  })) << manager.PoolTemplateBytes()
      << " reported, " << heldIn(templates).first << " held";
  EXPECT_GT(manager.PoolTemplateBytes(), 0u);
  auto status = cli({"status", "--json"});
  ASSERT_EQ(status.exitCode, 0) << status.err;
  EXPECT_EQ(Json::parse(status.out)["templates"].u64(), manager.PoolTemplateBytes());
  EXPECT_LT(manager.PoolTemplateBytes(), uint64_t{2} << 30);  // the default budget holds
  auto text = cli({"status"});
  EXPECT_NE(text.out.find("Templates: "), std::string::npos) << text.out;
}

TEST_F(DaemonLimits, ReleaseTakesForceAndRefusesOptionsItDoesNotKnow) {
  startDaemon();
  ManagerClient manager(bus());
  ImageClient image(bus(), allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "none")));
  auto unknown = errorOf([&] { image.Release({{"forse", sdbus::Variant(true)}}); });
  EXPECT_EQ(unknown.name, kInvalid);
  EXPECT_NE(unknown.message.find("unknown options key 'forse'"), std::string::npos)
      << unknown.message;
  auto wrongType = errorOf([&] { image.Release({{"force", sdbus::Variant(std::string("yes"))}}); });
  EXPECT_EQ(wrongType.name, kInvalid);
  EXPECT_NE(wrongType.message.find("'force' must be of type 'b'"), std::string::npos)
      << wrongType.message;
  EXPECT_EQ(errorOf([&] {
              manager.ReleaseDomain(kDomainA, {{"lifetime", sdbus::Variant(1u)}});
            }).name,
            kInvalid);
  EXPECT_EQ(manager.ImageCount(), 1u);
  // Without libvirt nothing is known of running domains: release goes ahead, forced or not.
  image.Release({{"force", sdbus::Variant(false)}});
  EXPECT_EQ(manager.ImageCount(), 0u);
  allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "none", "vdb"));
  allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "none", "vdc"));
  EXPECT_EQ(manager.ReleaseDomain(kDomainA, {{"force", sdbus::Variant(true)}}), 2u);
  allocate(manager, kDomainB, imageSpec(64 * kMiB, "raw", "none", "vdb"));
  auto forced = cli({"release", "--force", kDomainB});
  EXPECT_EQ(forced.exitCode, 0) << forced.err;
  EXPECT_EQ(manager.ImageCount(), 0u);
}

}  // namespace
}  // namespace virtscratch::test
