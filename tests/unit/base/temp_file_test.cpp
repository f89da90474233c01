#include "base/temp_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file_io.h"
#include "tests/support/test_util.h"

namespace virtscratch {
namespace {

using test::TempDir;

UniqueFd openDir(const std::string& path) {
  return UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

TEST(TempFile, HasNoNameUntilPublished) {
  TempDir dir;
  UniqueFd d = openDir(dir.path());
  auto file = TempFile::create(d.get());
  ASSERT_TRUE(file.ok()) << file.status().message();
  ASSERT_TRUE(writeAll(file->fd(), "hello", 5, 0).ok());
  EXPECT_TRUE(dir.entries().empty());
  ASSERT_TRUE(file->publish("image.raw", false).ok());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"image.raw"});
  EXPECT_EQ(test::readFile(dir.file("image.raw")), "hello");
}

TEST(TempFile, FollowsTheUmaskOrTakesAnExactModeWhateverTheUmask) {
  TempDir dir;
  UniqueFd d = openDir(dir.path());
  mode_t old = umask(022);
  auto shared = TempFile::create(d.get());
  umask(0);
  auto loose = TempFile::create(d.get());
  umask(077);  // would take the group and other bits off
  auto exact = TempFile::create(d.get(), 0644);
  umask(old);
  ASSERT_TRUE(shared.ok() && loose.ok() && exact.ok());
  ASSERT_TRUE(shared->publish("shared", false).ok());
  ASSERT_TRUE(loose->publish("loose", false).ok());
  ASSERT_TRUE(exact->publish("exact", false).ok());
  struct stat st;
  ASSERT_EQ(stat(dir.file("shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_EQ(stat(dir.file("loose").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  ASSERT_EQ(stat(dir.file("exact").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST(TempFile, LeavesNothingWhenDroppedUnpublished) {
  TempDir dir;
  UniqueFd d = openDir(dir.path());
  {
    auto file = TempFile::create(d.get());
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE(writeAll(file->fd(), "x", 1, 0).ok());
  }
  EXPECT_TRUE(dir.entries().empty());
}

TEST(TempFile, LeavesNothingWhenTheProcessIsKilled) {
  TempDir dir;
  pid_t pid = fork();
  if (pid == 0) {
    UniqueFd d = openDir(dir.path());
    auto file = TempFile::create(d.get());
    if (!file.ok()) _exit(1);
    (void)writeAll(file->fd(), "x", 1, 0);
    kill(getpid(), SIGKILL);
    _exit(2);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_TRUE(dir.entries().empty());
}

TEST(TempFile, NeverReplacesAnExistingFileWithoutOverwrite) {
  TempDir dir;
  test::writeFileAt(dir.file("image.raw"), 0, "precious");
  UniqueFd d = openDir(dir.path());
  auto file = TempFile::create(d.get());
  ASSERT_TRUE(file.ok());
  Status s = file->publish("image.raw", false);
  EXPECT_EQ(s.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(test::readFile(dir.file("image.raw")), "precious");
  auto second = TempFile::create(d.get());
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(writeAll(second->fd(), "new", 3, 0).ok());
  ASSERT_TRUE(second->publish("image.raw", true).ok());
  EXPECT_EQ(test::readFile(dir.file("image.raw")), "new");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"image.raw"});
}

TEST(TempFile, CanBeOpenedByAChildProcessThroughItsPath) {
  TempDir dir;
  UniqueFd d = openDir(dir.path());
  auto file = TempFile::create(d.get());
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(writeAll(file->fd(), "through proc", 12, 0).ok());
  auto r = test::run({"cat", file->path()});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, "through proc");
}

}  // namespace
}  // namespace virtscratch
