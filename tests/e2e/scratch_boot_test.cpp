// Scratch disks with attach='boot': `virt-scratch enable` writes the metadata and the <disk>, the
// hook has the daemon make the image before QEMU opens it, the guest mounts it by label, and the
// image goes when its lifetime ends.
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>

#include "tests/e2e/scratch_test.h"

namespace virtscratch::test {
namespace {

using BootScratchDisk = ScratchTest;

TEST_F(BootScratchDisk, EnabledDomainStartsWithItsDiskMadeBeforeQemuOpensIt) {
  startDaemon();
  ASSERT_NO_FATAL_FAILURE(defineDomain({}));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "256M", "--label", "scratch", "--lifetime", "domain"}));
  std::string image = poolImage();
  EXPECT_FALSE(fileExists(image)) << "enable made the image; the hook should, at start";

  // QEMU fails to start a domain whose disk file is missing: the start succeeding means the
  // file was there before QEMU opened it.
  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fileExists(image));
  auto disks = blockDevices();
  EXPECT_NE(std::find(disks.begin(), disks.end(), std::make_pair(std::string("vdb"), image)),
            disks.end())
      << virsh({"domblklist", name()}).out;

  ASSERT_TRUE(waitForState("shut off", 90s)) << console();
  std::string seen = console();
  EXPECT_NE(seen.find("VS-DISK dev=/dev/vda size=268435456"), std::string::npos) << seen;
  EXPECT_NE(seen.find("VS-MARKER-WRITTEN"), std::string::npos) << seen;

  // lifetime='domain': the image stays after the stop, with what the guest wrote, until the
  // domain is undefined.
  ASSERT_TRUE(fileExists(image));
  EXPECT_EQ(readGuestFile(image, "/marker"), "written by the guest on /dev/vda\n");
  r = virsh({"undefine", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(waitForFile(image, false)) << "the image stayed after undefine: " << image;
}

TEST_F(BootScratchDisk, BootLifetimeImageIsGoneWhenTheDomainStops) {
  startDaemon();
  ASSERT_NO_FATAL_FAILURE(defineDomain({}));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "256M", "--label", "scratch", "--lifetime", "boot"}));
  std::string image = poolImage();

  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fileExists(image));
  ASSERT_TRUE(waitForState("shut off", 90s)) << console();
  EXPECT_NE(console().find("VS-MARKER-WRITTEN"), std::string::npos) << console();
  EXPECT_TRUE(waitForFile(image, false)) << "the image stayed after the stop: " << image;
  // The definition still asks for the disk: the next start makes a fresh one.
  r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(fileExists(image));
}

TEST_F(BootScratchDisk, SizePerVcpuGivesOneSizePerVcpu) {
  startDaemon();
  for (unsigned vcpus : {1u, 4u}) {
    SCOPED_TRACE(testing::Message() << vcpus << " vCPUs");
    Guest guest;
    guest.vcpus = vcpus;
    ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
    ASSERT_NO_FATAL_FAILURE(enable({"--size-per-vcpu", "128M", "--label", "scratch"}));
    std::string image = poolImage();
    CommandResult r = virsh({"start", name()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(virtualSize(image), vcpus * (128ull << 20));
    virsh({"destroy", name()});
    r = virsh({"undefine", name()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
    ASSERT_TRUE(waitForFile(image, false));
  }
}

// An image a running domain uses is not released from under it: Busy naming the domain, until
// the caller says --force.
TEST_F(BootScratchDisk, ReleasingTheDiskOfARunningDomainIsBusyUntilForced) {
  startDaemon();
  Guest guest;
  guest.hold = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "256M", "--label", "scratch", "--lifetime", "domain"}));
  std::string image = poolImage();
  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(fileExists(image));

  r = cli({"release", uuid()});
  EXPECT_EQ(r.exitCode, 1) << r.out;
  EXPECT_NE(r.err.find("attached to the running domain " + name()), std::string::npos) << r.err;
  EXPECT_TRUE(fileExists(image)) << "the image went from under the running domain";

  r = cli({"release", "--force", uuid()});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_FALSE(fileExists(image));
  virsh({"destroy", name()});
}

// Each stop sends a STOPPED event that the daemon follows after the fact, while the next start's
// hook may already have asked for the new run's disk: the event of the run that ended must never
// take the disk of the one that follows (with startupPolicy='optional' QEMU would start without
// it, or the image would go from under the guest).
TEST_F(BootScratchDisk, FiftyFastDestroyAndStartCyclesNeverLoseTheDisk) {
  startDaemon();
  Guest guest;
  guest.hold = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "64M", "--label", "scratch", "--lifetime", "boot"}));
  const std::string image = poolImage();
  auto attached = [&] {
    CommandResult list = cli({"list"});
    std::istringstream lines(list.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find(uuid()) != std::string::npos && line.find(" attached ") != std::string::npos)
        return true;
    }
    return false;
  };
  const int kCycles = 50;
  for (int cycle = 1; cycle <= kCycles; ++cycle) {
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    CommandResult r = virsh({"start", name()});
    ASSERT_EQ(r.exitCode, 0) << r.err << daemonLog();
    auto disks = blockDevices();
    ASSERT_NE(std::find(disks.begin(), disks.end(), std::make_pair(std::string("vdb"), image)),
              disks.end())
        << "the domain started without its disk: " << virsh({"domblklist", name()}).out;
    // The daemon applies events in order: once it shows this run's STARTED (the image attached),
    // the STOPPED of the run before has been applied too.
    ASSERT_TRUE(pollUntil(attached, 30s)) << cli({"list"}).out << daemonLog();
    ASSERT_TRUE(fileExists(image)) << "the image went from under the running domain\n"
                                   << daemonLog();
    if (cycle == kCycles) {
      EXPECT_TRUE(waitForConsole("VS-MARKER-WRITTEN", 90s)) << console();
    }
    r = virsh({"destroy", name()});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  EXPECT_TRUE(waitForFile(image, false)) << "the boot image stayed after the last stop: " << image;
}

}  // namespace
}  // namespace virtscratch::test
