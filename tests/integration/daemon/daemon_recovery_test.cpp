// A crash (SIGKILL) in the middle of allocations, then a restart: no half-made file remains and
// every image whose Allocate had returned is listed again and intact.
#include <set>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

using DaemonRecovery = DaemonTest;

std::string domainNumber(int i) {
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "00000000-0000-4000-8000-%012d", i);
  return uuid;
}

TEST_F(DaemonRecovery, KeepsEveryFinishedImageAndNoHalfMadeFileAfterSigkill) {
  startDaemon();
  auto proxy = sdbus::createProxy(bus(), "org.virtscratch.Scratch1", "/org/virtscratch/Scratch1");
  std::set<std::string> finished;
  int answered = 0;
  const char* filesystems[] = {"ext4", "xfs", "btrfs", "vfat"};
  constexpr int kRequests = 12;
  for (int i = 0; i < kRequests; ++i) {
    Spec spec = {{"size", sdbus::Variant(uint64_t{1} << (i % 2 == 0 ? 30 : 40))},
                 {"format", sdbus::Variant(std::string(i % 3 == 0 ? "raw" : "qcow2"))},
                 {"filesystem", sdbus::Variant(std::string(filesystems[i % 4]))}};
    if (i % 4 == 3) spec["size"] = sdbus::Variant(uint64_t{1} << 30);  // vfat: small
    (void)proxy->callMethodAsync("Allocate")
        .onInterface("org.virtscratch.Scratch1.Manager")
        .withArguments(domainNumber(i), spec)
        .uponReplyInvoke([&](const sdbus::Error* error, sdbus::ObjectPath path) {
          ++answered;
          if (error == nullptr) finished.insert(path);
        });
  }
  // Kill as soon as the first allocation is done: others are in flight.
  ASSERT_TRUE(pumpUntil([&] { return !finished.empty(); }, 60s));
  killDaemon();
  std::set<std::string> finishedBeforeKill = finished;
  std::string log = daemonLog();

  startDaemon();
  ManagerClient manager(bus());
  std::set<std::string> listed;
  for (const auto& path : manager.ListImages()) listed.insert(path);
  for (const auto& path : finishedBeforeKill) {
    EXPECT_TRUE(listed.contains(path)) << path << " finished before the crash but is gone";
  }
  // Every listed image is whole; the pool holds images and their records, nothing else.
  std::set<std::string> expectedFiles;
  for (const auto& path : listed) {
    ImageClient image(bus(), path);
    EXPECT_EQ(image.State(), "ready") << path;
    std::string file = image.Path();
    if (image.Format() == "qcow2") {
      EXPECT_EQ(run({"qemu-img", "check", file}).exitCode, 0) << file;
    } else {
      auto blkid = parseExport(run({"blkid", "-p", "-o", "export", file}).out);
      EXPECT_EQ(blkid["TYPE"], image.Filesystem()) << file;
    }
    std::string rel = file.substr(poolPath().size() + 1);
    std::string domain = rel.substr(0, rel.find('/'));
    expectedFiles.insert(domain);
    expectedFiles.insert(rel);
    expectedFiles.insert(domain + "/" + image.Target() + ".record");
  }
  auto poolNow = poolFiles();
  std::set<std::string> files(poolNow.begin(), poolNow.end());
  EXPECT_EQ(files, expectedFiles) << "the daemon's log before the crash:\n" << log;
  EXPECT_LT(finishedBeforeKill.size(), static_cast<size_t>(kRequests))
      << "every allocation finished before the kill: nothing was in flight";
}

}  // namespace
}  // namespace virtscratch::test
