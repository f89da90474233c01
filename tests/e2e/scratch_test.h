// The fixture of the tests of scratch disks: VmTest, skipped (saying why) until the hook and
// `virt-scratch enable` are built, with `enable` for the test's domain.
#pragma once

#include <string>
#include <vector>

#include "tests/e2e/vm_fixture.h"

namespace virtscratch::test {

class ScratchTest : public VmTest {
 protected:
  void SetUp() override {
    VmTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!hookBuilt()) GTEST_SKIP() << "plugin/ does not build virt-scratch-hook yet";
    if (!enableAvailable()) GTEST_SKIP() << "virt-scratch has no enable command yet";
  }

  // virt-scratch enable <the test's domain> `args`, which must succeed.
  void enable(std::vector<std::string> args) {
    args.insert(args.begin(), {"enable", name()});
    CommandResult r = cli(args);
    ASSERT_EQ(r.exitCode, 0) << "virt-scratch enable failed: " << r.err;
  }
};

}  // namespace virtscratch::test
