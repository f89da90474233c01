// Allocate, list, properties, signals, release and quota through the generated proxies.
#include <sys/wait.h>

#include <algorithm>

#include "tests/integration/daemon/daemon_fixture.h"
#include "tests/support/json_value.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr char kImageInterface[] = "org.virtscratch.Scratch1.Image";

Spec rawExt4(uint64_t size, const std::string& label) {
  return {{"size", sdbus::Variant(size)},
          {"format", sdbus::Variant(std::string("raw"))},
          {"filesystem", sdbus::Variant(std::string("ext4"))},
          {"label", sdbus::Variant(label)}};
}

std::string idOf(const std::string& domainUuid, const std::string& target) {
  std::string hex;
  for (char c : domainUuid) {
    if (c != '-') hex += c;
  }
  return hex + "_" + target;
}

using DaemonBus = DaemonTest;

TEST_F(DaemonBus, AllocatesAnImageThatBlkidAndQemuImgRecognise) {
  startDaemon();
  ManagerClient manager(bus());
  sdbus::ObjectPath path = allocate(manager, kDomainA, rawExt4(kGiB, "scratch"));
  EXPECT_EQ(path, "/org/virtscratch/Scratch1/image/" + idOf(kDomainA, "vdb"));

  ImageClient image(bus(), path);
  std::string file = image.Path();
  EXPECT_EQ(file, poolPath() + "/" + kDomainA + "/vdb.raw");
  auto info = Json::parse(run({"qemu-img", "info", "--output=json", file}).out);
  EXPECT_EQ(info["format"].str(), "raw");
  EXPECT_EQ(info["virtual-size"].u64(), kGiB);
  auto blkid = parseExport(run({"blkid", "-p", "-o", "export", file}).out);
  EXPECT_EQ(blkid["TYPE"], "ext4");
  EXPECT_EQ(blkid["LABEL"], "scratch");
  EXPECT_EQ(blkid["UUID"], image.FilesystemUuid());
  EXPECT_EQ(run({"e2fsck", "-fn", file}).exitCode, 0);
}

TEST_F(DaemonBus, MakesQcow2ImagesThatQemuImgChecks) {
  startDaemon();
  ManagerClient manager(bus());
  Spec spec = {{"size", sdbus::Variant(uint64_t{1} << 40)},
               {"format", sdbus::Variant(std::string("qcow2"))},
               {"target", sdbus::Variant(std::string("vdc"))}};
  ImageClient image(bus(), allocate(manager, kDomainA, spec));
  EXPECT_EQ(run({"qemu-img", "check", image.Path()}).exitCode, 0);
  auto info = Json::parse(run({"qemu-img", "info", "--output=json", image.Path()}).out);
  EXPECT_EQ(info["format"].str(), "qcow2");
  EXPECT_EQ(info["virtual-size"].u64(), uint64_t{1} << 40);
  EXPECT_EQ(image.Format(), "qcow2");
  EXPECT_EQ(image.VirtualSize(), uint64_t{1} << 40);
}

TEST_F(DaemonBus, ListsImagesAndDescribesThemInProperties) {
  startDaemon({.quota = "100G"});
  ManagerClient manager(bus());
  auto first = allocate(manager, kDomainA, rawExt4(kGiB, "one"));
  Spec second = rawExt4(2 * kGiB, "two");
  second["target"] = sdbus::Variant(std::string("vdc"));
  second["lifetime"] = sdbus::Variant(std::string("manual"));
  auto other = allocate(manager, kDomainB, second);

  auto listed = manager.ListImages();
  std::sort(listed.begin(), listed.end());
  std::vector<sdbus::ObjectPath> expected = {first, other};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed, expected);
  EXPECT_EQ(manager.ImageCount(), 2u);
  EXPECT_EQ(manager.PoolUsed(), 3 * kGiB);
  EXPECT_EQ(manager.PoolQuota(), 100 * kGiB);
  EXPECT_EQ(manager.PoolPath(), poolPath());
  EXPECT_GT(manager.PoolFree(), 0u);
  EXPECT_FALSE(manager.Version().empty());

  ImageClient image(bus(), other);
  auto props = image.GetAll(kImageInterface);
  EXPECT_EQ(props["Id"].get<std::string>(), idOf(kDomainB, "vdc"));
  EXPECT_EQ(props["Domain"].get<std::string>(), kDomainB);
  EXPECT_EQ(props["Target"].get<std::string>(), "vdc");
  EXPECT_EQ(props["Lifetime"].get<std::string>(), "manual");
  EXPECT_EQ(props["State"].get<std::string>(), "ready");
  EXPECT_EQ(props["Filesystem"].get<std::string>(), "ext4");
  EXPECT_EQ(props["Label"].get<std::string>(), "two");
  EXPECT_EQ(props["VirtualSize"].get<uint64_t>(), 2 * kGiB);
  EXPECT_EQ(props["AllocatedSize"].get<uint64_t>(), allocatedBytesOf(image.Path()));
  EXPECT_GT(props["Created"].get<uint64_t>(), uint64_t{1600000000} * 1000000);

  // The ObjectManager reports the same objects with their properties.
  auto managed = manager.GetManagedObjects();
  ASSERT_TRUE(managed.contains(other));
  EXPECT_EQ(managed[other][kImageInterface]["Label"].get<std::string>(), "two");
}

TEST_F(DaemonBus, SignalsImageAddedAndImageRemoved) {
  startDaemon();
  ManagerClient manager(bus());
  auto path = allocate(manager, kDomainA, rawExt4(kGiB, "s"));
  ASSERT_TRUE(pumpUntil([&] { return !manager.added.empty(); }));
  EXPECT_EQ(manager.added[0], std::make_pair(std::string(path), std::string(kDomainA)));

  ImageClient(bus(), path).Release({});
  ASSERT_TRUE(pumpUntil([&] { return !manager.removed.empty(); }));
  EXPECT_EQ(manager.removed[0],
            std::make_tuple(std::string(path), std::string(kDomainA), std::string("released")));
}

TEST_F(DaemonBus, AllocatingTheSameDomainAndTargetAgainReturnsTheSameImage) {
  startDaemon();
  ManagerClient manager(bus());
  auto first = allocate(manager, kDomainA, rawExt4(kGiB, "x"));
  std::string uuid = ImageClient(bus(), first).FilesystemUuid();
  auto again = allocate(manager, kDomainA, rawExt4(kGiB, "x"));
  EXPECT_EQ(again, first);
  EXPECT_EQ(ImageClient(bus(), again).FilesystemUuid(), uuid);
  EXPECT_EQ(manager.ImageCount(), 1u);
}

TEST_F(DaemonBus, ReleasesOneImageAndEveryImageOfADomain) {
  startDaemon();
  ManagerClient manager(bus());
  auto a = allocate(manager, kDomainA, rawExt4(kGiB, "a"));
  Spec vdc = rawExt4(kGiB, "b");
  vdc["target"] = sdbus::Variant(std::string("vdc"));
  auto b = allocate(manager, kDomainA, vdc);
  auto c = allocate(manager, kDomainB, rawExt4(kGiB, "c"));
  std::string fileA = ImageClient(bus(), a).Path();
  std::string fileB = ImageClient(bus(), b).Path();
  std::string fileC = ImageClient(bus(), c).Path();

  ImageClient(bus(), c).Release({});
  EXPECT_FALSE(fileExists(fileC));
  EXPECT_EQ(manager.ReleaseDomain(kDomainA, {}), 2u);
  EXPECT_FALSE(fileExists(fileA));
  EXPECT_FALSE(fileExists(fileB));
  EXPECT_TRUE(manager.ListImages().empty());
  EXPECT_EQ(manager.ReleaseDomain(kDomainA, {}), 0u);
  EXPECT_EQ(errorNameOf([&] { ImageClient(bus(), a).Release({}); }),
            "org.freedesktop.DBus.Error.UnknownObject");
}

TEST_F(DaemonBus, RefusesAllocationsPastTheQuotaBeforeWritingAnything) {
  startDaemon({.quota = "2G"});
  ManagerClient manager(bus());
  allocate(manager, kDomainA, rawExt4(kGiB + kGiB / 2, "fits"));
  auto before = poolFiles();
  Spec tooMuch = rawExt4(kGiB, "over");
  tooMuch["target"] = sdbus::Variant(std::string("vdc"));
  EXPECT_EQ(errorNameOf([&] { allocate(manager, kDomainB, tooMuch); }),
            "org.virtscratch.Scratch1.Error.QuotaExceeded");
  EXPECT_EQ(poolFiles(), before);
  EXPECT_EQ(manager.ImageCount(), 1u);
}

TEST_F(DaemonBus, AnswersOtherCallsWhileAnAllocationRuns) {
  startDaemon();
  auto proxy = sdbus::createProxy(bus(), "org.virtscratch.Scratch1", "/org/virtscratch/Scratch1");
  std::vector<std::string> answers;  // in the order the replies arrive
  // A cold 1 TiB qcow2 with ext4 takes hundreds of milliseconds.
  (void)proxy->callMethodAsync("Allocate")
      .onInterface("org.virtscratch.Scratch1.Manager")
      .withArguments(std::string(kDomainA), Spec{{"size", sdbus::Variant(uint64_t{1} << 40)}})
      .uponReplyInvoke([&](const sdbus::Error* error, sdbus::ObjectPath) {
        EXPECT_EQ(error, nullptr);
        answers.push_back("Allocate");
      });
  (void)proxy->callMethodAsync("ListImages")
      .onInterface("org.virtscratch.Scratch1.Manager")
      .uponReplyInvoke([&](const sdbus::Error* error, std::vector<sdbus::ObjectPath>) {
        EXPECT_EQ(error, nullptr);
        answers.push_back("ListImages");
      });
  ASSERT_TRUE(pumpUntil([&] { return answers.size() == 2; }));
  EXPECT_EQ(answers, (std::vector<std::string>{"ListImages", "Allocate"}));
}

TEST_F(DaemonBus, FinishesAndExitsCleanlyOnSigterm) {
  startDaemon();
  ManagerClient manager(bus());
  allocate(manager, kDomainA, rawExt4(kGiB, "t"));
  EXPECT_EQ(stopDaemon(), 0);
  // The bus notices the closed connection on its own time.
  EXPECT_TRUE(pumpUntil([&] { return !nameHasOwner(); }, 10s));
  EXPECT_NE(daemonLog().find("<6>"), std::string::npos) << "no priority prefix in the log";
}

TEST_F(DaemonBus, RebuildsItsObjectsFromThePoolAfterARestart) {
  startDaemon();
  std::string path;
  {
    ManagerClient manager(bus());
    path = allocate(manager, kDomainA, rawExt4(kGiB, "kept"));
  }
  ASSERT_EQ(stopDaemon(), 0);
  startDaemon();
  ManagerClient manager(bus());
  EXPECT_EQ(manager.ListImages(), std::vector<sdbus::ObjectPath>{path});
  EXPECT_EQ(ImageClient(bus(), path).Label(), "kept");
}

}  // namespace
}  // namespace virtscratch::test
