// Export jobs: progress through PropertiesChanged at most every 200 ms, Completed at the end,
// Cancel; through the proxies and through `virt-scratch export --daemon`.
#include <cstring>
#include <random>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

using DaemonJobs = DaemonTest;

class JobClient final : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Job_proxy> {
 public:
  JobClient(sdbus::IConnection& connection, const std::string& path)
      : ProxyInterfaces(connection, "org.virtscratch.Scratch1", path) {}
  ~JobClient() = default;

 private:
  void onCompleted(const bool&, const std::string&) override {}
};

// An image whose filesystem holds `mib` MiB of random data (which gzip cannot shrink), so an
// export takes a while.
std::string imageWithData(ManagerClient& manager, const std::string& content, int mib) {
  std::mt19937_64 random(42);
  std::string data(static_cast<size_t>(mib) << 20, '\0');
  for (size_t i = 0; i + 8 <= data.size(); i += 8) {
    uint64_t v = random();
    std::memcpy(&data[i], &v, 8);
  }
  writeFileAt(content + "/data.bin", 0, data);
  return manager.Allocate(kDomainA, {{"size", sdbus::Variant(uint64_t{256} << 20)},
                                     {"format", sdbus::Variant(std::string("raw"))},
                                     {"content", sdbus::Variant(content)}});
}

TEST_F(DaemonJobs, ExportReportsProgressAtMostEvery200MsAndCompletes) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 48);
  std::string file = ImageClient(bus(), image).Path();
  JobSignals signals;
  auto slot = watchJobs(bus(), signals);
  std::string dest = dir_->file("out.gz");
  std::string job = manager.Export(image, dest, {{"threads", sdbus::Variant(1u)}});
  EXPECT_EQ(job.rfind("/org/virtscratch/Scratch1/job/", 0), 0u) << job;
  EXPECT_EQ(JobClient(bus(), job).Operation(), "export");
  ASSERT_TRUE(pumpUntil([&] { return signals.completed.contains(job); }, 120s));
  EXPECT_EQ(signals.completed[job], std::make_pair(true, std::string()));

  const auto& changes = signals.changes[job];
  ASSERT_FALSE(changes.empty()) << "no PropertiesChanged for the job's progress";
  for (size_t i = 0; i < changes.size(); ++i) {
    EXPECT_GE(changes[i].progress, 0.0);
    EXPECT_LE(changes[i].progress, 1.0);
    if (i > 0) {
      EXPECT_GE(changes[i].progress, changes[i - 1].progress);
      // Received times jitter a little around the daemon's sending times.
      EXPECT_GE(changes[i].at - changes[i - 1].at, 150ms) << "change " << i;
    }
  }
  // The job is gone once completed.
  EXPECT_EQ(errorNameOf([&] { JobClient(bus(), job).Operation(); }),
            "org.freedesktop.DBus.Error.UnknownObject");
  ASSERT_EQ(run({"gzip", "-t", dest}).exitCode, 0);
  ASSERT_EQ(run({"gzip", "-d", "-k", dest}).exitCode, 0);
  EXPECT_EQ(run({"cmp", dir_->file("out"), file}).exitCode, 0);
}

TEST_F(DaemonJobs, CancelEndsAnExportWithNothingLeft) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 64);
  JobSignals signals;
  auto slot = watchJobs(bus(), signals);
  std::string dest = dir_->file("cancelled.gz");
  std::string job = manager.Export(image, dest, {{"threads", sdbus::Variant(1u)}});
  JobClient(bus(), job).Cancel();
  ASSERT_TRUE(pumpUntil([&] { return signals.completed.contains(job); }, 120s));
  EXPECT_FALSE(signals.completed[job].first);
  EXPECT_NE(signals.completed[job].second.find("cancel"), std::string::npos)
      << signals.completed[job].second;
  EXPECT_FALSE(fileExists(dest));
  // The image is free again: it can be released.
  ImageClient(bus(), image).Release({});
}

TEST_F(DaemonJobs, TheCliFollowsAnExportToTheEnd) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 8);
  std::string id = ImageClient(bus(), image).Id();
  std::string dest = dir_->file("cli.gz");
  auto result = cli({"export", "--daemon", "--progress", id, dest});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_EQ(run({"gzip", "-t", dest}).exitCode, 0);
  auto again = cli({"export", "--daemon", id, dest});
  EXPECT_EQ(again.exitCode, 1);
  EXPECT_NE(again.err.find("cli.gz' already exists"), std::string::npos) << again.err;
}

TEST_F(DaemonJobs, OtherUsersCannotExportOrCancel) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = manager.Allocate(kDomainA, {{"size", sdbus::Variant(uint64_t{1} << 30)}});
  std::string id = ImageClient(bus(), image).Id();
  auto result = cli({"export", "--daemon", id, "/tmp/x.gz"}, /*asNobody=*/true);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("uid 65534"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace virtscratch::test
