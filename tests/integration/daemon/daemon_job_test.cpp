// Export jobs: progress through PropertiesChanged at most every 200 ms, Completed at the end,
// Cancel; through the proxies and through `virt-scratch export --daemon`.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <random>

#include "tests/integration/daemon/daemon_fixture.h"
#include "tests/integration/daemon/polkit_fixture.h"

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
  return allocate(manager, kDomainA,
                  {{"size", sdbus::Variant(uint64_t{256} << 20)},
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
  std::string job = manager.Export(image, newOutput(dest), {{"threads", sdbus::Variant(1u)}});
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

TEST_F(DaemonJobs, CancelLeavesTheOutputFileEmpty) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 64);
  JobSignals signals;
  auto slot = watchJobs(bus(), signals);
  std::string dest = dir_->file("cancelled.gz");
  std::string job = manager.Export(image, newOutput(dest), {{"threads", sdbus::Variant(1u)}});
  JobClient(bus(), job).Cancel();
  ASSERT_TRUE(pumpUntil([&] { return signals.completed.contains(job); }, 120s));
  EXPECT_FALSE(signals.completed[job].first);
  EXPECT_NE(signals.completed[job].second.find("cancel"), std::string::npos)
      << signals.completed[job].second;
  EXPECT_NE(signals.completed[job].second.find("cancelled.gz' was emptied again"),
            std::string::npos)
      << signals.completed[job].second;
  EXPECT_EQ(std::filesystem::file_size(dest), 0u) << "a half-written gzip was left";
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
  writeFileAt(dest, 0, "replaced");
  auto forced = cli({"export", "--daemon", "--force", id, dest});
  ASSERT_EQ(forced.exitCode, 0) << forced.err;
  ASSERT_EQ(run({"gzip", "-d", "-k", dest}).exitCode, 0);
  EXPECT_EQ(run({"cmp", dir_->file("cli"), ImageClient(bus(), image).Path()}).exitCode, 0);
}

// The command opens DEST itself: as `nobody` it exports into nobody's folder, and the file is
// nobody's; where nobody may not write, nothing is made (the daemon, root, is never asked to).
// polkit grants nobody the export; the kernel decides where it may write.
using DaemonJobsPolkit = PolkitTest;
TEST_F(DaemonJobsPolkit, ANonRootCallerExportsIntoAFileItOpened) {
  startPolkitGranting("nobody");
  startDaemon();
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 8);
  std::string id = ImageClient(bus(), image).Id();
  std::string mine = dir_->file("nobody-owns-this");
  std::filesystem::create_directory(mine);
  ASSERT_EQ(chown(mine.c_str(), 65534, 65534), 0);
  auto result = cli({"export", "--daemon", id, mine + "/out.gz"}, /*asNobody=*/true);
  ASSERT_EQ(result.exitCode, 0) << result.err;
  struct stat st;
  ASSERT_EQ(stat((mine + "/out.gz").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  ASSERT_EQ(run({"gzip", "-d", "-k", mine + "/out.gz"}).exitCode, 0);
  EXPECT_EQ(run({"cmp", mine + "/out", ImageClient(bus(), image).Path()}).exitCode, 0);

  auto denied = cli({"export", "--daemon", id, dir_->file("root-owns-this.gz")}, true);
  EXPECT_EQ(denied.exitCode, 1);
  EXPECT_NE(denied.err.find("root-owns-this.gz"), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;
  EXPECT_FALSE(fileExists(dir_->file("root-owns-this.gz")));
}

// Standard output as DEST: the daemon writes into the pipe the command was given.
TEST_F(DaemonJobs, TheCliExportsToAPipeOnStandardOutput) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 8);
  std::string id = ImageClient(bus(), image).Id();
  auto result = cli({"export", "--daemon", id, "-"});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  writeFileAt(dir_->file("piped.gz"), 0, result.out);
  ASSERT_EQ(run({"gzip", "-d", dir_->file("piped.gz")}).exitCode, 0);
  EXPECT_EQ(run({"cmp", dir_->file("piped"), ImageClient(bus(), image).Path()}).exitCode, 0);
}

// Ctrl-C: the command cancels the job and leaves nothing at DEST (the file had no name yet).
TEST_F(DaemonJobs, AnInterruptedCliExportLeavesNothing) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 64);
  std::string id = ImageClient(bus(), image).Id();
  JobSignals signals;
  auto slot = watchJobs(bus(), signals);
  std::string outDir = dir_->file("interrupted");
  std::filesystem::create_directory(outDir);
  Child cli({VIRT_SCRATCH_BIN, "export", "--daemon", "--level", "9", "--threads", "1", id,
             outDir + "/out.gz"},
            dir_->file("cli.log"));
  // Interrupted once its job is running: the first progress report says so.
  ASSERT_TRUE(
      pumpUntil([&] { return !signals.changes.empty() || !signals.completed.empty(); }, 60s));
  int status = cli.stop(SIGINT);
  ASSERT_TRUE(pumpUntil([&] { return !signals.completed.empty(); }, 60s));
  std::string log = readFile(dir_->file("cli.log"));
  if (signals.completed.begin()->second.first) {
    // The export ended before the interrupt reached it: then the file is whole.
    EXPECT_EQ(run({"gzip", "-t", outDir + "/out.gz"}).exitCode, 0) << log;
    return;
  }
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << log;
  EXPECT_NE(log.find("out.gz' was not created"), std::string::npos) << log;
  EXPECT_TRUE(std::filesystem::is_empty(outDir)) << "the interrupted export left a file";
}

// Under systemd the daemon has PrivateTmp=yes: a path under /tmp names another folder for it. The
// command opens the file in its own /tmp and passes it, so the export lands there.
TEST_F(DaemonJobs, AnExportIntoTheCallersTmpLandsThereNotInTheDaemonsTmp) {
  startDaemon({.privateTmp = true});
  ManagerClient manager(bus());
  auto image = imageWithData(manager, contentPath(), 8);
  std::string id = ImageClient(bus(), image).Id();
  std::string tmp = "/tmp/vs-export-XXXXXX";
  ASSERT_NE(mkdtemp(tmp.data()), nullptr);
  std::string daemonsView = "/proc/" + std::to_string(daemon_->pid()) + "/root" + tmp;
  EXPECT_FALSE(std::filesystem::exists(daemonsView)) << "the daemon's /tmp is not its own";
  auto result = cli({"export", "--daemon", id, tmp + "/out.gz"});
  EXPECT_EQ(result.exitCode, 0) << result.err;
  EXPECT_EQ(run({"gzip", "-d", "-k", tmp + "/out.gz"}).exitCode, 0);
  EXPECT_EQ(run({"cmp", tmp + "/out", ImageClient(bus(), image).Path()}).exitCode, 0);
  std::filesystem::remove_all(tmp);
}

TEST_F(DaemonJobs, OtherUsersCannotExportOrCancel) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = allocate(manager, kDomainA, {{"size", sdbus::Variant(uint64_t{1} << 30)}});
  std::string id = ImageClient(bus(), image).Id();
  auto result = cli({"export", "--daemon", id, "/tmp/x.gz"}, /*asNobody=*/true);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("uid 65534"), std::string::npos) << result.err;
}

// The hook's timeout, played by gdbus: the caller gives up after 1 s and leaves the bus while the
// daemon still writes the 2 GiB of a fully preallocated image. The allocation is cancelled and
// the pool is as before.
TEST_F(DaemonJobs, AllocateWhoseCallerGivesUpIsCancelledAndLeavesNothing) {
  startDaemon();
  JobSignals signals;
  auto slot = watchJobs(bus(), signals);
  CommandResult r =
      run({"gdbus", "call", "--system", "--dest", "org.virtscratch.Scratch1", "--object-path",
           "/org/virtscratch/Scratch1", "--method", "org.virtscratch.Scratch1.Manager.Allocate",
           "--timeout", "1", kDomainA,
           "{'size': <uint64 2147483648>, 'format': <'raw'>, 'preallocation': <'full'>}"});
  ASSERT_NE(r.exitCode, 0) << "the call was answered within its timeout: " << r.out;
  EXPECT_NE(r.err.find("Timeout"), std::string::npos) << r.err;

  ASSERT_TRUE(pumpUntil([&] { return !signals.completed.empty(); }, 120s)) << daemonLog();
  auto [succeeded, message] = signals.completed.begin()->second;
  EXPECT_FALSE(succeeded);
  EXPECT_NE(message.find("left the bus"), std::string::npos) << message;
  EXPECT_NE(daemonLog().find("is cancelled"), std::string::npos) << daemonLog();
  ManagerClient manager(bus());
  EXPECT_EQ(manager.ImageCount(), 0u);
  EXPECT_TRUE(manager.ListImages().empty());
  EXPECT_EQ(poolFiles(), std::vector<std::string>{}) << "the cancelled allocation left files";
}

}  // namespace
}  // namespace virtscratch::test
