#include "base/process.h"

#include <gtest/gtest.h>

namespace virtscratch {
namespace {

TEST(Process, CapturesOutputAndExitCodeWithoutAShell) {
  auto r = runProcess({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->exitCode, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST(Process, PassesArgumentsVerbatimSoShellCharactersAreInert) {
  auto r = runProcess({"printf", "%s|", "$(id)", "a;b", "`x`", "*"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "$(id)|a;b|`x`|*|");
}

TEST(Process, RunCheckedTurnsAFailingExitIntoAnErrorWithStderr) {
  auto r = runChecked({"sh", "-c", "echo broken disk >&2; exit 1"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "sh failed (exit 1): broken disk");
}

TEST(Process, NamesTheMissingProgramAndItsPackage) {
  auto r = runProcess({"mkfs.nonexistentfs"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("mkfs.nonexistentfs"), std::string::npos);
  auto q = runProcess({"qemu-img-does-not-exist"});
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("apt-get install qemu-utils"), std::string::npos);
}

TEST(Process, RunsChildrenWithTheCLocale) {
  auto r = runProcess({"sh", "-c", "echo $LC_ALL"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "C\n");
}

}  // namespace
}  // namespace virtscratch
