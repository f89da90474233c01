// When something is down: libvirtd restarted under a running domain, a domain that stops while
// virt-scratchd is down, virt-scratchd down when a domain starts (the hook fails closed, or
// open when configured so), and libvirtd starting with autostart domains.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

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

// libvirtd starting with autostart domains, as at host boot: libvirtd answers no client until
// its autostart is done, and autostart runs the hook, which waits for the daemon's Allocate. The
// daemon must serve the Allocate while its own connection to libvirt is still being opened:
// when the daemon runs already (its connection closed with the old libvirtd, it reconnects) and
// when the hook's call is what starts it (D-Bus activation, the open then certainly waits).
class LibvirtdAutostart : public ScratchTest {
 protected:
  // Two autostart domains with a boot disk each; libvirtd restarted as at host boot. Both run
  // with their disks; stopped, the disks go.
  void bootTheHost(bool activated) {
    Guest guest;
    guest.hold = true;
    const std::string other = name() + "-b";
    ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
    ASSERT_NO_FATAL_FAILURE(defineDomain(other, guest));
    ASSERT_NO_FATAL_FAILURE(enable({"--size", "64M", "--label", "scratch", "--lifetime", "boot"}));
    CommandResult r =
        cli({"enable", other, "--size", "64M", "--label", "scratch", "--lifetime", "boot"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    for (const std::string& domain : {name(), other}) {
      r = virsh({"autostart", domain});
      ASSERT_EQ(r.exitCode, 0) << r.err;
    }
    const std::string images[] = {poolImage(), poolPath() + "/" + uuidOf(other) + "/vdb.qcow2"};

    r = run({vmEnv(), "stop-libvirtd"});
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    if (activated) {
      stopActivatedDaemon();  // `enable` may have started it
      ASSERT_EQ(activatedDaemonPid(), -1);
    }
    // libvirtd autostarts only once per host boot: this file says it has.
    std::filesystem::remove("/run/libvirt/qemu/autostarted");
    r = run({vmEnv(), "start-libvirtd"});
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;

    for (const std::string& domain : {name(), other}) {
      EXPECT_TRUE(waitForState(domain, "running", 60s))
          << domain << " was not autostarted (each hook has 5 s); daemon log:\n"
          << daemonLog();
    }
    if (activated) {
      EXPECT_GT(activatedDaemonPid(), 0) << "the hook's call did not start the daemon";
    }
    for (const std::string& image : images) EXPECT_TRUE(fileExists(image)) << image;
    for (const std::string& domain : {name(), other}) {
      r = virsh({"autostart", "--disable", domain});
      EXPECT_EQ(r.exitCode, 0) << r.err;
      r = virsh({"destroy", domain});
      EXPECT_EQ(r.exitCode, 0) << r.err;
    }
    for (const std::string& image : images) {
      EXPECT_TRUE(waitForFile(image, false)) << "the boot image stayed after the stop: " << image;
    }
  }
};

TEST_F(LibvirtdAutostart, StartsEveryDomainWithItsDiskWhileTheDaemonReconnects) {
  startDaemon();
  bootTheHost(false);
}

TEST_F(LibvirtdAutostart, StartsEveryDomainWithItsDiskWhenTheHookActivatesTheDaemon) {
  ASSERT_NO_FATAL_FAILURE(allowActivation());
  bootTheHost(true);
}

}  // namespace
}  // namespace virtscratch::test
