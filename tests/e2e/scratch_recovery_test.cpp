// When something is down: libvirtd restarted under a running domain, a domain that stops while
// virt-scratchd is down, and virt-scratchd down when a domain starts (the hook fails closed, or
// open when configured so).
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/e2e/scratch_test.h"

namespace virtscratch::test {
namespace {

using ScratchDiskRecovery = ScratchTest;

TEST_F(ScratchDiskRecovery, LibvirtdRestartedWhileTheDomainRunsStillCleansUpAtStop) {
  startDaemon();
  Guest guest;
  guest.hold = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "256M", "--label", "scratch", "--lifetime", "boot"}));
  std::string image = poolImage();
  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(waitForConsole("VS-HOLDING")) << console();

  r = run({vmEnv(), "restart-libvirtd"});
  ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
  EXPECT_EQ(domainState(), "running") << "the domain did not survive libvirtd's restart";
  EXPECT_TRUE(fileExists(image));

  r = virsh({"destroy", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(waitForFile(image, false)) << "the image stayed after the stop: " << image;

  // The hook alone could have done that: a hot-plugged disk shows that the daemon follows
  // libvirt's events again.
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "64M", "--label", "hot", "--target", "vdc",
                                  "--lifetime", "boot", "--attach", "hotplug"}));
  std::string hot = poolImage("vdc");
  r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(pollUntil(
      [&] {
        auto disks = blockDevices();
        return std::find(disks.begin(), disks.end(), std::make_pair(std::string("vdc"), hot)) !=
               disks.end();
      },
      30s))
      << "after libvirtd's restart the daemon did not hot-plug " << hot << "; domblklist:\n"
      << virsh({"domblklist", name()}).out;
  r = virsh({"destroy", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(waitForFile(hot, false)) << "the image stayed after the stop: " << hot;
}

TEST_F(ScratchDiskRecovery, DomainStoppedWhileTheDaemonIsDownIsCleanedWhenTheDaemonStarts) {
  startDaemon();
  Guest guest;
  guest.hold = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "256M", "--label", "scratch", "--lifetime", "boot"}));
  std::string image = poolImage();
  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(fileExists(image));

  ASSERT_EQ(stopDaemon(), 0) << daemonLog();
  // The hook's release finds no daemon: the image stays for now.
  r = virsh({"destroy", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(fileExists(image)) << "nothing should have removed the image with the daemon down";

  startDaemon();
  EXPECT_TRUE(waitForFile(image, false))
      << "the daemon's reconcile left the image of a stopped domain: " << image;
}

TEST_F(ScratchDiskRecovery, DaemonDownAtStartFailsTheStartWithTheHooksMessage) {
  startDaemon();
  ASSERT_NO_FATAL_FAILURE(defineDomain({}));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "256M", "--label", "scratch", "--lifetime", "boot"}));
  std::string image = poolImage();
  ASSERT_EQ(stopDaemon(), 0) << daemonLog();

  CommandResult r = virsh({"start", name()});
  EXPECT_NE(r.exitCode, 0) << "the domain started without its scratch disk";
  // libvirt shows the hook's one line, which says the daemon is what is missing (the hook's
  // path, which libvirt shows too, does not name it).
  EXPECT_NE(r.err.find("virt-scratchd"), std::string::npos) << r.err;
  EXPECT_EQ(domainState(), "shut off");
  EXPECT_FALSE(fileExists(image));
}

// `virt-scratch enable` writes the boot disk's <source> with startupPolicy='optional', so with
// [hook] fail=open the domain starts without the missing file instead of QEMU refusing it.
TEST_F(ScratchDiskRecovery, DaemonDownAtStartLetsTheDomainStartWhenFailingOpen) {
  startDaemon({.hookFail = "open"});
  Guest guest;
  guest.waitSeconds = 3;  // the disk is not coming
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "256M", "--label", "scratch", "--lifetime", "boot"}));
  ASSERT_EQ(stopDaemon(), 0) << daemonLog();

  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << "failing open, the domain should start: " << r.err;
  ASSERT_TRUE(waitForState("shut off", 90s)) << console();
  EXPECT_NE(console().find("VS-NO-DISK"), std::string::npos) << console();
}

}  // namespace
}  // namespace virtscratch::test
