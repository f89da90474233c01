// The pool's accounting of host bytes on the real daemon: PoolAllocated and Image.AllocatedSize
// follow what the images occupy at each refresh, [pool] quota-allocated refuses what would pass
// it, the high-water mark is heard as one SpaceLow signal and a warning, and the metrics (over
// the bus through `virt-scratch metrics`, and in [metrics] textfile) pass `promtool check
// metrics` and count what happened.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// What a guest does to its disk: writes `mib` MiB of data at `offset` bytes into the file.
void guestWrites(const std::string& path, uint64_t offset, uint64_t mib) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  std::vector<char> data(kMiB, 'g');
  for (uint64_t i = 0; i < mib; ++i) {
    ASSERT_EQ(pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset + i * kMiB)),
              static_cast<ssize_t>(kMiB));
  }
  ASSERT_EQ(fsync(fd), 0);
  close(fd);
}

// promtool's verdict on `text`: "" when it passes, else what it said.
std::string promtoolProblems(const std::string& text) {
  CommandResult r = runWithInput({"promtool", "check", "metrics"}, text);
  if (r.exitCode == 0 && r.out.empty() && r.err.empty()) return "";
  return "promtool exit " + std::to_string(r.exitCode) + ": " + r.out + r.err;
}

bool hasLine(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

using DaemonSpace = DaemonTest;

TEST_F(DaemonSpace, PoolAllocatedCountsTheImagesHostBytesAndFollowsWhatTheGuestWrites) {
  DaemonConfig config;
  config.pool = "refresh=1\n";
  startDaemon(config);
  ManagerClient manager(bus());
  ImageClient image(bus(), allocate(manager, kDomainA, imageSpec(256 * kMiB, "raw", "ext4")));
  const std::string path = image.Path();
  const uint64_t made = allocatedBytesOf(path);
  EXPECT_EQ(manager.PoolAllocated(), made);
  EXPECT_EQ(image.AllocatedSize(), made);
  EXPECT_LT(made, 32 * kMiB);

  guestWrites(path, 128 * kMiB, 32);
  const uint64_t grown = allocatedBytesOf(path);
  ASSERT_GE(grown, made + 30 * kMiB);  // ext4 had a few blocks there already
  EXPECT_TRUE(pumpUntil([&] { return manager.PoolAllocated() == grown; }, 20s))
      << manager.PoolAllocated() << " != " << grown;
  EXPECT_EQ(image.AllocatedSize(), grown);
  EXPECT_EQ(manager.PoolUsed(), 256 * kMiB);  // the virtual sizes do not move
}

TEST_F(DaemonSpace, QuotaAllocatedRefusesAnImageOnceTheGuestsHaveFilledTheirDisks) {
  DaemonConfig config;
  config.pool = "refresh=1\nquota-allocated=100M\n";
  startDaemon(config);
  ManagerClient manager(bus());
  EXPECT_EQ(manager.PoolQuotaAllocated(), 100 * kMiB);
  allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "ext4"));
  // Before the guest writes, a second disk (counted at its size: its filesystem's metadata is
  // estimated generously) fits.
  allocate(manager, kDomainA, imageSpec(48 * kMiB, "raw", "ext4", "vdc"));
  manager.ReleaseDomain(kDomainA, {});
  ASSERT_EQ(manager.ImageCount(), 0u);
  ImageClient again(bus(), allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "ext4")));
  const std::string path = again.Path();
  guestWrites(path, 0, 60);
  const uint64_t grown = allocatedBytesOf(path);
  ASSERT_TRUE(pumpUntil([&] { return manager.PoolAllocated() == grown; }, 20s));

  std::string message;
  std::string name = errorNameOf([&] {
    try {
      allocate(manager, kDomainA, imageSpec(48 * kMiB, "raw", "ext4", "vdc"));
    } catch (const sdbus::Error& e) {
      message = e.getMessage();
      throw;
    }
  });
  EXPECT_EQ(name, "org.virtscratch.Scratch1.Error.QuotaExceeded") << message;
  EXPECT_NE(message.find("[pool] quota-allocated of 100 MiB"), std::string::npos) << message;
  EXPECT_EQ(manager.ImageCount(), 1u);
  EXPECT_FALSE(fileExists(poolPath() + "/" + kDomainA + "/vdc.raw"));
  EXPECT_FALSE(fileExists(poolPath() + "/" + kDomainA + "/vdc.record"));
}

TEST_F(DaemonSpace, PassingTheHighWaterMarkSendsSpaceLowOnceAndLogsAWarning) {
  DaemonConfig config;
  config.pool = "refresh=1\nhigh-water=24M\n";
  startDaemon(config);
  ManagerClient manager(bus());
  EXPECT_EQ(manager.PoolHighWater(), 24 * kMiB);
  ImageClient image(bus(), allocate(manager, kDomainA, imageSpec(256 * kMiB, "raw", "ext4")));
  const std::string path = image.Path();
  ASSERT_LT(allocatedBytesOf(path), 24 * kMiB);
  EXPECT_EQ(manager.SpaceState(), "ok");

  guestWrites(path, 128 * kMiB, 32);
  ASSERT_TRUE(pumpUntil([&] { return !manager.spaceLow.empty(); }, 20s)) << daemonLog();
  EXPECT_EQ(std::get<0>(manager.spaceLow[0]), "high-water");
  EXPECT_GE(std::get<1>(manager.spaceLow[0]), 32 * kMiB);
  EXPECT_GT(std::get<2>(manager.spaceLow[0]), 0u);
  EXPECT_EQ(manager.SpaceState(), "high-water");
  EXPECT_NE(daemonLog().find("has passed its high-water mark of 24 MiB"), std::string::npos)
      << daemonLog();
  auto status = cli({"status"});
  EXPECT_NE(status.out.find("Space:  past the high-water mark"), std::string::npos) << status.out;

  manager.ReleaseDomain(kDomainA, {});
  EXPECT_TRUE(pumpUntil([&] { return manager.SpaceState() == "ok"; }, 20s));
  EXPECT_NE(daemonLog().find("is back under its marks (was high-water)"), std::string::npos)
      << daemonLog();
  EXPECT_EQ(manager.spaceLow.size(), 1u);  // once per change, not at every refresh
}

TEST_F(DaemonSpace, MetricsPassPromtoolAndCountWhatHappened) {
  startDaemon();
  auto made =
      cli({"allocate", kDomainA, "--size", "64M", "--format", "raw", "--filesystem", "ext4"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  const std::string path = poolPath() + "/" + kDomainA + "/vdb.raw";
  auto metrics = cli({"metrics"});
  ASSERT_EQ(metrics.exitCode, 0) << metrics.err;
  EXPECT_EQ(promtoolProblems(metrics.out), "") << metrics.out;
  const std::string& text = metrics.out;
  EXPECT_TRUE(hasLine(text, "virtscratch_requests_total{method=\"allocate\",origin=\"cli\"} 1"))
      << text;
  EXPECT_TRUE(hasLine(text, "virtscratch_requests_total{method=\"allocate\",origin=\"hook\"} 0"));
  EXPECT_TRUE(hasLine(text, "virtscratch_allocate_duration_seconds_count{path=\"cold\"} 1"));
  EXPECT_TRUE(hasLine(text, "virtscratch_allocate_duration_seconds_count{path=\"spare\"} 0"));
  EXPECT_TRUE(hasLine(text, "virtscratch_images{state=\"ready\",lifetime=\"boot\"} 1"));
  EXPECT_TRUE(hasLine(text, "virtscratch_jobs_total{operation=\"allocate\",outcome=\"ok\"} 1"));
  EXPECT_TRUE(hasLine(text, "virtscratch_pool_virtual_bytes " + std::to_string(64 * kMiB)));
  EXPECT_TRUE(
      hasLine(text, "virtscratch_pool_allocated_bytes " + std::to_string(allocatedBytesOf(path))));
  EXPECT_TRUE(hasLine(text, "virtscratch_libvirt_configured 0"));

  ASSERT_EQ(cli({"release", kDomainA}).exitCode, 0);
  metrics = cli({"metrics"});
  EXPECT_TRUE(
      hasLine(metrics.out, "virtscratch_requests_total{method=\"release\",origin=\"cli\"} 1"))
      << metrics.out;
  EXPECT_TRUE(hasLine(metrics.out, "virtscratch_images{state=\"ready\",lifetime=\"boot\"} 0"));
  EXPECT_TRUE(hasLine(metrics.out, "virtscratch_pool_allocated_bytes 0"));
}

TEST_F(DaemonSpace, TheTextfileIsReplacedAtEachRefreshAndASymlinkThereIsNotFollowed) {
  const std::string node = dir_->file("node-exporter");
  ASSERT_EQ(mkdir(node.c_str(), 0755), 0);
  const std::string file = node + "/virt-scratch.prom";
  DaemonConfig config;
  config.pool = "refresh=1\n";
  config.metrics = "textfile=" + file + "\n";
  startDaemon(config);
  ASSERT_TRUE(pumpUntil([&] { return fileExists(file); }, 20s)) << daemonLog();
  struct stat st;
  ASSERT_EQ(lstat(file.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0644u);  // node_exporter runs as its own user
  EXPECT_EQ(promtoolProblems(readFile(file)), "");
  EXPECT_FALSE(fileExists(node + "/.virt-scratch.prom.tmp"));

  ManagerClient manager(bus());
  allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "ext4"));
  EXPECT_TRUE(pumpUntil(
      [&] {
        return hasLine(readFile(file),
                       "virtscratch_allocate_duration_seconds_count{path=\"cold\"} 1");
      },
      20s))
      << readFile(file);

  // A symlink planted at the name is replaced by the next refresh, its target left alone.
  const std::string victim = dir_->file("victim");
  writeFileAt(victim, 0, "keep\n");
  ASSERT_EQ(unlink(file.c_str()), 0);
  ASSERT_EQ(symlink(victim.c_str(), file.c_str()), 0);
  EXPECT_TRUE(pumpUntil([&] { return lstat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode); }, 20s));
  EXPECT_EQ(readFile(victim), "keep\n");
}

TEST_F(DaemonSpace, ATextfileBehindASymlinkedDirectoryIsNotWrittenAndTheLogSaysWhy) {
  const std::string real = dir_->file("real");
  ASSERT_EQ(mkdir(real.c_str(), 0755), 0);
  ASSERT_EQ(symlink(real.c_str(), dir_->file("link").c_str()), 0);
  DaemonConfig config;
  config.pool = "refresh=1\n";
  config.metrics = "textfile=" + dir_->file("link") + "/virt-scratch.prom\n";
  startDaemon(config);
  ASSERT_TRUE(pumpUntil(
      [&] {
        return daemonLog().find("is not a directory (a symlink is not followed)") !=
               std::string::npos;
      },
      20s))
      << daemonLog();
  EXPECT_FALSE(fileExists(real + "/virt-scratch.prom"));
  EXPECT_FALSE(fileExists(real + "/.virt-scratch.prom.tmp"));
}

}  // namespace
}  // namespace virtscratch::test
