// Copying a content tree through descriptors: what is kept (data, holes, modes, times, owners,
// symlinks as text, hard links), what is refused (FIFOs), and the check seeing every entry.
#include "image/content_copy.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "base/unique_fd.h"
#include "image/size.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

UniqueFd openDir(const std::string& path) {
  return UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

struct stat lstatOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st;
}

Status allowAll(const CopiedEntry&) { return {}; }

TEST(ContentCopy, KeepsDataHolesModesTimesSymlinksAndHardLinks) {
  TempDir dir;
  std::string src = dir.file("src");
  fs::create_directories(src + "/sub");
  test::writeFileAt(src + "/sub/file", 0, "data");
  ASSERT_EQ(chown((src + "/sub/file").c_str(), 1234, 5678), 0);
  chmod((src + "/sub/file").c_str(), 04751);  // after the chown, which clears setuid
  chmod((src + "/sub").c_str(), 02750);
  test::makeSparseFile(src + "/sparse", 64 * kMiB);
  test::writeFileAt(src + "/sparse", 32 * kMiB, "middle");
  fs::create_hard_link(src + "/sub/file", src + "/hardlink");
  fs::create_symlink("/etc/shadow", src + "/link");
  const struct timespec times[2] = {{1000000000, 5}, {1200000000, 7}};
  ASSERT_EQ(utimensat(AT_FDCWD, (src + "/sub/file").c_str(), times, 0), 0);
  ASSERT_EQ(utimensat(AT_FDCWD, (src + "/sub").c_str(), times, 0), 0);

  std::string dst = dir.file("dst");
  fs::create_directory(dst);
  UniqueFd from = openDir(src), to = openDir(dst);
  std::set<std::string> seen;
  Status copied = copyContentTree(from.get(), to.get(), [&](const CopiedEntry& e) {
    seen.insert(std::string(e.path));
    return Status();
  });
  ASSERT_TRUE(copied.ok()) << copied.message();
  EXPECT_EQ(seen, (std::set<std::string>{"", "sub", "sub/file", "sparse", "hardlink"}));

  EXPECT_EQ(test::readFile(dst + "/sub/file"), "data");
  struct stat file = lstatOf(dst + "/sub/file");
  EXPECT_EQ(file.st_mode & 07777, 04751u);  // setuid kept: root may set it after the chown
  EXPECT_EQ(file.st_uid, 1234u);
  EXPECT_EQ(file.st_gid, 5678u);
  EXPECT_EQ(file.st_mtim.tv_sec, 1200000000);
  EXPECT_EQ(file.st_mtim.tv_nsec, 7);
  struct stat sub = lstatOf(dst + "/sub");
  EXPECT_EQ(sub.st_mode & 07777, 02750u);
  EXPECT_EQ(sub.st_mtim.tv_sec, 1200000000);  // set after its entries were made
  EXPECT_EQ(lstatOf(dst + "/hardlink").st_ino, file.st_ino);
  EXPECT_EQ(fs::read_symlink(dst + "/link"), "/etc/shadow");
  EXPECT_EQ(lstatOf(dst + "/sparse").st_size, static_cast<off_t>(64 * kMiB));
  EXPECT_LT(test::allocatedBytesOf(dst + "/sparse"), kMiB);
  EXPECT_EQ(test::readFile(dst + "/sparse").substr(32 * kMiB, 6), "middle");
}

TEST(ContentCopy, RefusesAFifoNamingIt) {
  TempDir dir;
  fs::create_directories(dir.file("src/deep"));
  ASSERT_EQ(mkfifo(dir.file("src/deep/pipe").c_str(), 0644), 0);
  fs::create_directory(dir.file("dst"));
  UniqueFd from = openDir(dir.file("src")), to = openDir(dir.file("dst"));
  Status copied = copyContentTree(from.get(), to.get(), allowAll);
  EXPECT_EQ(copied.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(copied.message().find("'deep/pipe' is a FIFO"), std::string::npos) << copied.message();
}

TEST(ContentCopy, StopsWithTheErrorOfTheCheck) {
  TempDir dir;
  fs::create_directories(dir.file("src"));
  test::writeFileAt(dir.file("src/secret"), 0, "no");
  fs::create_directory(dir.file("dst"));
  UniqueFd from = openDir(dir.file("src")), to = openDir(dir.file("dst"));
  Status copied = copyContentTree(from.get(), to.get(), [](const CopiedEntry& e) {
    if (e.path == "secret") return Status(ErrorCode::kAccessDenied, "not 'secret'");
    return Status();
  });
  EXPECT_EQ(copied.code(), ErrorCode::kAccessDenied);
  EXPECT_FALSE(test::fileExists(dir.file("dst/secret")));
}

TEST(ContentCopy, RemoveTreeNeverFollowsASymlink) {
  TempDir dir;
  fs::create_directories(dir.file("outside"));
  test::writeFileAt(dir.file("outside/keep"), 0, "keep");
  fs::create_directories(dir.file("tree/a/b"));
  test::writeFileAt(dir.file("tree/a/b/file"), 0, "x");
  fs::create_directory_symlink(dir.file("outside"), dir.file("tree/a/out"));
  UniqueFd parent = openDir(dir.path());
  Status removed = removeTree(parent.get(), "tree");
  ASSERT_TRUE(removed.ok()) << removed.message();
  EXPECT_FALSE(fs::exists(dir.file("tree")));
  EXPECT_EQ(test::readFile(dir.file("outside/keep")), "keep");
}

}  // namespace
}  // namespace virtscratch::image
