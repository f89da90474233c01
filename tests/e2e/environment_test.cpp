// The environment alone, before any of virt-scratch's libvirt pieces: libvirtd boots the tiny
// guest under QEMU, and the guest finds a disk made by `virt-scratch create` by its label,
// mounts it and writes on it. When this fails, the other end-to-end tests cannot pass.
#include <gtest/gtest.h>

#include "tests/e2e/vm_fixture.h"

namespace virtscratch::test {
namespace {

using VmEnvironment = VmTest;

TEST_F(VmEnvironment, BootsAGuestThatMountsADiskByLabelAndWritesOnIt) {
  std::string image = dir_->file("scratch.qcow2");
  CommandResult r =
      cli({"create", "--size", "256M", "--format", "qcow2", "--label", "scratch", image});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  Guest guest;
  guest.qcow2Disks = {image};
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));

  r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(waitForState("shut off", 90s))
      << "the guest did not power off; state " << domainState() << "; console:\n"
      << console();

  std::string seen = console();
  EXPECT_NE(seen.find("VS-DISK dev=/dev/vda size=268435456"), std::string::npos) << seen;
  EXPECT_NE(seen.find("VS-MARKER-WRITTEN"), std::string::npos) << seen;
  EXPECT_EQ(readGuestFile(image, "/marker"), "written by the guest on /dev/vda\n");
}

}  // namespace
}  // namespace virtscratch::test
