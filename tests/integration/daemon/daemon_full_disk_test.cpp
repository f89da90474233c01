// The pool on a small filesystem: a tmpfs of 256 MiB mounted over the pool's directory. What does
// not fit ends with NoSpace and leaves nothing behind, whether the daemon's own check refuses it
// or the disk fills while the image is written; the daemon goes on serving, and a release gives
// the space back.
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/integration/daemon/daemon_fixture.h"
#include "tests/support/tmpfs_mount.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr uint64_t kPoolSize = 256 * kMiB;
constexpr char kNoSpace[] = "org.virtscratch.Scratch1.Error.NoSpace";

class DaemonFullDisk : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (IsSkipped()) return;
    config_.reserve = "0";  // every byte of the small disk is counted here
    tmpfs_ = std::make_unique<TmpfsMount>(poolPath(), kPoolSize, "0711");
    if (!tmpfs_->mounted()) {
      GTEST_SKIP() << "cannot mount a tmpfs on " << poolPath()
                   << " (needs root with CAP_SYS_ADMIN): " << tmpfs_->error();
    }
  }

  void TearDown() override {
    // The daemon holds the pool open: it stops before the unmount, and the unmount comes before
    // the fixture removes the directory the tmpfs is mounted in.
    if (daemon_ && !daemon_->exited()) {
      int status = daemon_->stop(SIGTERM);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "virt-scratchd did not exit cleanly on SIGTERM";
    }
    tmpfs_.reset();
    DaemonTest::TearDown();
  }

  // The bytes df reports available on the pool's filesystem.
  uint64_t dfAvailable() {
    auto result = run({"df", "-B1", "--output=avail", poolPath()});
    EXPECT_EQ(result.exitCode, 0) << result.err;
    size_t newline = result.out.find('\n');
    return newline == std::string::npos ? 0 : std::stoull(result.out.substr(newline + 1));
  }

  std::unique_ptr<TmpfsMount> tmpfs_;
};

struct CallError {
  std::string name;
  std::string message;
};

CallError allocateError(ManagerClient& manager, const std::string& domain, const Spec& spec) {
  try {
    allocate(manager, domain, spec);
  } catch (const sdbus::Error& e) {
    return {e.getName(), e.getMessage()};
  }
  return {};
}

// A small sparse image: what a full pool must still be able to make.
Spec smallImage(const std::string& target) { return imageSpec(64 * kMiB, "qcow2", "ext4", target); }

std::string idOf(const std::string& domainUuid, const std::string& target) {
  std::string hex;
  for (char c : domainUuid) {
    if (c != '-') hex += c;
  }
  return hex + "_" + target;
}

// A file of `bytes` that neither mkfs nor the qcow2 writer can leave out as zeros.
void writeIncompressible(const std::string& path, uint64_t bytes) {
  std::ofstream out(path, std::ios::binary);
  std::string block(kMiB, '\0');
  for (uint64_t done = 0; done < bytes; done += kMiB) {
    for (size_t i = 0; i < block.size(); i += 8) block[i] = static_cast<char>(done / kMiB + i);
    out.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

TEST_F(DaemonFullDisk, RefusesPreallocationsLargerThanTheFreeSpaceAndLeavesNothing) {
  startDaemon();
  ManagerClient manager(bus());
  uint64_t available = dfAvailable();
  for (const char* format : {"raw", "qcow2"}) {
    for (const char* preallocation : {"falloc", "full"}) {
      SCOPED_TRACE(std::string(format) + " " + preallocation);
      auto error = allocateError(manager, kDomainA,
                                 imageSpec(512 * kMiB, format, "ext4", "vdb", preallocation));
      EXPECT_EQ(error.name, kNoSpace) << error.message;
      EXPECT_NE(error.message.find("free"), std::string::npos) << error.message;
      EXPECT_NE(error.message.find(preallocation), std::string::npos) << error.message;
      // No temporary file, record or domain directory; not a byte of the space taken.
      EXPECT_EQ(poolFiles(), std::vector<std::string>{});
      EXPECT_EQ(dfAvailable(), available);
    }
  }
  ImageClient image(bus(), allocate(manager, kDomainA, smallImage("vdc")));
  EXPECT_EQ(run({"qemu-img", "check", image.Path()}).exitCode, 0);
  EXPECT_EQ(manager.ImageCount(), 1u);
}

TEST_F(DaemonFullDisk, AnImageThatFillsTheDiskWhileItIsWrittenEndsWithNoSpaceAndLeavesNothing) {
  startDaemon();
  ManagerClient manager(bus());
  // The daemon's estimate covers the filesystem's metadata, not the content: 160 MiB of content
  // passes the check, and then needs twice that in the pool (the filesystem is assembled in an
  // unnamed file beside the qcow2 image it is copied into).
  writeIncompressible(contentPath() + "/data.bin", 160 * kMiB);
  Spec spec = imageSpec(kGiB, "qcow2", "ext4");
  spec["content"] = sdbus::Variant(contentPath());
  uint64_t available = dfAvailable();
  auto error = allocateError(manager, kDomainA, spec);
  EXPECT_EQ(error.name, kNoSpace) << error.message;
  EXPECT_NE(error.message.find("No space left on device"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("was not created"), std::string::npos) << error.message;
  EXPECT_NE(error.message.find("release images"), std::string::npos) << error.message;
  EXPECT_EQ(poolFiles(), std::vector<std::string>{});
  EXPECT_EQ(dfAvailable(), available);

  // The same when mke2fs itself runs out of room writing the content into a raw image, with
  // half the disk taken by another domain's image: 80 MiB of content fit in the rest once (the
  // daemon's staged copy of it) but not twice.
  ImageClient half(
      bus(), allocate(manager, kDomainB, imageSpec(128 * kMiB, "raw", "none", "vdb", "falloc")));
  writeIncompressible(contentPath() + "/data.bin", 80 * kMiB);
  auto files = poolFiles();
  available = dfAvailable();
  spec["format"] = sdbus::Variant(std::string("raw"));
  auto byMkfs = allocateError(manager, kDomainA, spec);
  EXPECT_EQ(byMkfs.name, kNoSpace) << byMkfs.message;
  EXPECT_NE(byMkfs.message.find("mke2fs"), std::string::npos) << byMkfs.message;
  EXPECT_NE(byMkfs.message.find("No space left on device"), std::string::npos) << byMkfs.message;
  EXPECT_EQ(poolFiles(), files);
  EXPECT_EQ(dfAvailable(), available);

  // Still serving, with the space it had.
  ImageClient image(bus(), allocate(manager, kDomainA, smallImage("vdc")));
  EXPECT_EQ(run({"qemu-img", "check", image.Path()}).exitCode, 0);
  EXPECT_EQ(manager.ImageCount(), 2u);
}

TEST_F(DaemonFullDisk, AnImageWhoseRecordDoesNotFitIsRemovedWithIt) {
  startDaemon();
  ManagerClient manager(bus());
  // An image of exactly the free space passes the check and fills the disk to the last page:
  // then its record cannot be written. Neither an image without a record nor a record
  // without an image may stay, and nothing may come back after a restart.
  uint64_t available = dfAvailable();
  ASSERT_EQ(available % kMiB, 0u);
  auto error =
      allocateError(manager, kDomainA, imageSpec(available, "raw", "none", "vdb", "falloc"));
  EXPECT_EQ(error.name, kNoSpace) << error.message;
  EXPECT_NE(error.message.find("record"), std::string::npos) << error.message;
  EXPECT_EQ(poolFiles(), std::vector<std::string>{});
  EXPECT_EQ(dfAvailable(), available);
  ASSERT_EQ(stopDaemon(), 0);
  startDaemon();
  ManagerClient again(bus());
  EXPECT_EQ(again.ImageCount(), 0u);
  EXPECT_EQ(poolFiles(), std::vector<std::string>{});
  // One MiB less leaves room for the record.
  ImageClient image(bus(), allocate(again, kDomainA,
                                    imageSpec(available - kMiB, "raw", "none", "vdb", "falloc")));
  EXPECT_EQ(image.VirtualSize(), available - kMiB);
  EXPECT_EQ(poolFiles(), (std::vector<std::string>{kDomainA, std::string(kDomainA) + "/vdb.raw",
                                                   std::string(kDomainA) + "/vdb.record"}));
}

TEST_F(DaemonFullDisk, ConcurrentAllocationsThatTogetherDoNotFitRefuseTheOneThatDoesNot) {
  startDaemon();
  auto proxy = sdbus::createProxy(bus(), "org.virtscratch.Scratch1", "/org/virtscratch/Scratch1");
  // Each fits alone, two fit together, three do not: whatever the order in which they run,
  // exactly one is refused.
  std::vector<std::string> outcomes;
  for (const char* target : {"vdb", "vdc", "vdd"}) {
    (void)proxy->callMethodAsync("Allocate")
        .onInterface("org.virtscratch.Scratch1.Manager")
        .withArguments(std::string(kDomainA),
                       imageSpec(100 * kMiB, "raw", "ext4", target, "falloc"))
        .uponReplyInvoke([&outcomes](const sdbus::Error* error, sdbus::ObjectPath) {
          outcomes.push_back(error == nullptr ? "ok" : error->getName());
        });
  }
  ASSERT_TRUE(pumpUntil([&] { return outcomes.size() == 3; }, 60s));
  std::sort(outcomes.begin(), outcomes.end());
  EXPECT_EQ(outcomes, (std::vector<std::string>{"ok", "ok", kNoSpace}));
  ManagerClient manager(bus());
  ASSERT_EQ(manager.ImageCount(), 2u);
  for (const auto& path : manager.ListImages()) {
    std::string file = ImageClient(bus(), path).Path();
    EXPECT_EQ(run({"e2fsck", "-fn", file}).exitCode, 0) << file;
    EXPECT_GE(allocatedBytesOf(file), 100 * kMiB) << file;
  }
  // Two images with their records, nothing else.
  auto files = poolFiles();
  EXPECT_EQ(files.size(), 5u) << ::testing::PrintToString(files);
}

TEST_F(DaemonFullDisk, ReleaseReturnsTheSpaceAndARefusedAllocationThenSucceeds) {
  startDaemon();
  ManagerClient manager(bus());
  Spec big = imageSpec(160 * kMiB, "raw", "ext4", "vdb", "full");
  ImageClient first(bus(), allocate(manager, kDomainA, big));
  EXPECT_EQ(run({"e2fsck", "-fn", first.Path()}).exitCode, 0);
  auto refused = allocateError(manager, kDomainB, big);
  ASSERT_EQ(refused.name, kNoSpace) << refused.message;
  uint64_t before = dfAvailable();
  EXPECT_LT(before, 160 * kMiB);
  EXPECT_EQ(manager.PoolFree(), before);

  first.Release({});
  uint64_t after = dfAvailable();
  EXPECT_GE(after, before + 160 * kMiB);
  EXPECT_EQ(manager.PoolFree(), after);
  EXPECT_EQ(poolFiles(), std::vector<std::string>{});

  ImageClient second(bus(), allocate(manager, kDomainB, big));
  EXPECT_EQ(run({"e2fsck", "-fn", second.Path()}).exitCode, 0);
  EXPECT_EQ(manager.ListImages(), std::vector<sdbus::ObjectPath>{second.getObjectPath()});
  EXPECT_EQ(second.getObjectPath(), "/org/virtscratch/Scratch1/image/" + idOf(kDomainB, "vdb"));
}

}  // namespace
}  // namespace virtscratch::test
