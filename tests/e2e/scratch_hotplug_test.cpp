// Scratch disks with attach='hotplug': nothing in the definition; the daemon makes the image and
// attaches it to the running domain when libvirt reports it STARTED.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/e2e/scratch_test.h"

namespace virtscratch::test {
namespace {

using HotplugScratchDisk = ScratchTest;

TEST_F(HotplugScratchDisk, HotplugDiskIsAttachedToTheRunningDomain) {
  startDaemon();
  // The guest waits for the disk for up to a minute after it booted.
  Guest guest;
  guest.waitSeconds = 60;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(enable(
      {"--size", "256M", "--label", "scratch", "--lifetime", "boot", "--attach", "hotplug"}));
  EXPECT_TRUE(blockDevices().empty())
      << "a hot-plugged disk is not in the definition: " << virsh({"domblklist", name()}).out;
  std::string image = poolImage();

  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  bool attached = pollUntil(
      [&] {
        auto disks = blockDevices();
        return std::find(disks.begin(), disks.end(), std::make_pair(std::string("vdb"), image)) !=
               disks.end();
      },
      60s);
  // The guest needs seconds to boot and then to mount the disk: it is listed long before the
  // guest is done with it.
  EXPECT_TRUE(attached) << "the running domain never listed " << image << "; domblklist:\n"
                        << virsh({"domblklist", name()}).out;

  ASSERT_TRUE(waitForState("shut off", 120s)) << console();
  std::string seen = console();
  EXPECT_NE(seen.find("VS-DISK dev=/dev/vda size=268435456"), std::string::npos) << seen;
  EXPECT_NE(seen.find("VS-MARKER-WRITTEN"), std::string::npos) << seen;
  EXPECT_TRUE(waitForFile(image, false)) << "the image stayed after the stop: " << image;
}

}  // namespace
}  // namespace virtscratch::test
