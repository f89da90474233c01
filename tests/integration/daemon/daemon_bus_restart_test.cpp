// The system bus's daemon dies under virt-scratchd. sd-bus cannot carry a connection over to a
// new bus (the unique name, the owned name and every match are gone), so virt-scratchd exits
// with status 1 and says why; the unit (systemd/virt-scratchd.service.in) has
// Restart=on-failure, so systemd starts it again once the bus is back. These tests do what
// systemd would: a new bus, a new daemon, and the pool must be as it was: every image there,
// listed and sound, no temporary file.
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

// Checks an image the way a user would: qemu-img check for qcow2 (raw has nothing to check),
// e2fsck for an ext4 filesystem on a raw image.
void expectSound(const std::string& file) {
  if (file.ends_with(".qcow2")) {
    auto check = run({"qemu-img", "check", file});
    EXPECT_EQ(check.exitCode, 0) << file << ": " << check.out << check.err;
  } else {
    auto fsck = run({"e2fsck", "-fn", file});
    EXPECT_EQ(fsck.exitCode, 0) << file << ": " << fsck.out << fsck.err;
  }
}

bool hasTemporaryName(const std::string& relative) {
  return relative.find(".virt-scratch-tmp-") != std::string::npos ||
         relative.find(".tmp") != std::string::npos;
}

class DaemonBusRestart : public DaemonTest {
 protected:
  // SIGKILL to the bus's daemon, as when it crashes: no connection is closed politely.
  void killBus() {
    uint32_t busPid = 0;
    auto proxy = sdbus::createProxy(bus(), "org.freedesktop.DBus", "/org/freedesktop/DBus");
    proxy->callMethod("GetConnectionUnixProcessID")
        .onInterface("org.freedesktop.DBus")
        .withArguments(std::string("org.freedesktop.DBus"))
        .storeResultsTo(busPid);
    ASSERT_GT(busPid, 0u);
    ASSERT_EQ(kill(static_cast<pid_t>(busPid), SIGKILL), 0);
  }

  // Waits for virt-scratchd to end by itself; its wait status, or -1 at the deadline.
  int waitForDaemonExit(std::chrono::milliseconds deadline) {
    int pidfd = static_cast<int>(syscall(SYS_pidfd_open, daemon_->pid(), 0));
    if (pidfd >= 0) {
      struct pollfd p = {pidfd, POLLIN, 0};
      poll(&p, 1, static_cast<int>(deadline.count()));
      close(pidfd);
    }
    if (!daemon_->exited()) return -1;
    return daemon_->stop(SIGTERM);  // reaped already: only returns the status
  }

  // What systemd does after the failure: the bus comes back (same socket), then the daemon.
  void restartBusAndDaemon() {
    connection_.reset();
    privateBus_.reset();  // reaps the killed bus
    privateBus_ = std::make_unique<PrivateBus>(dir_->path());
    setenv("DBUS_SYSTEM_BUS_ADDRESS", privateBus_->address().c_str(), 1);
    connection_ = sdbus::createSystemBusConnection();
    connection_->setMethodCallTimeout(120'000'000);
    startDaemon();
  }

  void expectExitedForTheBus(int status) {
    ASSERT_NE(status, -1) << "virt-scratchd did not exit within 10 s after the bus died; log:\n"
                          << daemonLog();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
        << "wait status " << status << " (Restart=on-failure needs a failure exit); log:\n"
        << daemonLog();
    std::string log = daemonLog();
    EXPECT_NE(log.find("the bus connection failed"), std::string::npos) << log;
    EXPECT_NE(log.find("stopped after an error"), std::string::npos) << log;
  }
};

TEST_F(DaemonBusRestart, ExitsWithAFailureWhenTheBusDiesAndKeepsEveryImage) {
  startDaemon();
  std::vector<sdbus::ObjectPath> images;
  {
    ManagerClient manager(bus());
    images.push_back(allocate(manager, kDomainA, imageSpec(kGiB, "qcow2", "ext4", "vdb")));
    images.push_back(allocate(manager, kDomainA, imageSpec(kGiB, "qcow2", "none", "vdc")));
    images.push_back(allocate(manager, kDomainB, imageSpec(kGiB, "raw", "ext4", "vdb")));
  }
  std::sort(images.begin(), images.end());
  auto files = poolFiles();

  killBus();
  expectExitedForTheBus(waitForDaemonExit(10s));
  EXPECT_EQ(poolFiles(), files);

  restartBusAndDaemon();
  ManagerClient manager(bus());
  auto listed = manager.ListImages();
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, images);
  for (const auto& path : listed) expectSound(ImageClient(bus(), path).Path());
  EXPECT_EQ(poolFiles(), files);
  // Serving again: a release and an allocation work.
  ImageClient(bus(), images.front()).Release({});
  ImageClient made(bus(), allocate(manager, kDomainB, imageSpec(kGiB, "qcow2", "ext4", "vdd")));
  expectSound(made.Path());
}

TEST_F(DaemonBusRestart, ExitsWithAFailureWhenTheBusDiesDuringAnAllocation) {
  startDaemon();
  sdbus::ObjectPath kept;
  Spec slow = imageSpec(kGiB / 2, "raw", "ext4", "vdc", "full");
  {
    // Everything on the test's connection goes before the connection does.
    ManagerClient manager(bus());
    kept = allocate(manager, kDomainA, imageSpec(kGiB, "qcow2", "ext4", "vdb"));
    // Writing 512 MiB of zeros takes a while: the bus dies once the job reports progress.
    JobSignals signals;
    auto slot = watchJobs(bus(), signals);
    bool answered = false;
    auto proxy = sdbus::createProxy(bus(), "org.virtscratch.Scratch1", "/org/virtscratch/Scratch1");
    (void)proxy->callMethodAsync("Allocate")
        .onInterface("org.virtscratch.Scratch1.Manager")
        .withArguments(std::string(kDomainB), slow)
        .uponReplyInvoke([&answered](const sdbus::Error*, sdbus::ObjectPath) { answered = true; });
    ASSERT_TRUE(pumpUntil([&] { return !signals.changes.empty() || answered; }, 60s));
    ASSERT_FALSE(answered) << "the allocation ended before the bus could be killed under it";
    killBus();
  }
  expectExitedForTheBus(waitForDaemonExit(10s));
  // The allocation was either finished (image and record) or gave up (nothing): never half.
  for (const auto& file : poolFiles()) EXPECT_FALSE(hasTemporaryName(file)) << file;
  std::string slowImage = poolPath() + "/" + kDomainB + "/vdc.raw";
  EXPECT_EQ(fileExists(slowImage), fileExists(poolPath() + "/" + kDomainB + "/vdc.record"));

  restartBusAndDaemon();
  ManagerClient again(bus());
  auto listed = again.ListImages();
  EXPECT_NE(std::find(listed.begin(), listed.end(), kept), listed.end());
  expectSound(ImageClient(bus(), kept).Path());
  for (const auto& file : poolFiles()) EXPECT_FALSE(hasTemporaryName(file)) << file;
  // The caller that got no answer asks again, as the hook does: the image is (or now gets) made.
  ImageClient retried(bus(), allocate(again, kDomainB, slow));
  EXPECT_EQ(retried.Path(), slowImage);
  expectSound(retried.Path());
  EXPECT_EQ(again.ImageCount(), 2u);
}

}  // namespace
}  // namespace virtscratch::test
