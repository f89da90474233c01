// Memory while exporting or inspecting does not grow with the guest's fragmentation: a raw image
// of 2 million 4 KiB data extents (4 KiB data, 4 KiB hole, 16 GB sparse, 8 GB of data) exports
// and is described within 64 MiB of peak RSS, measured as the kernel counts it for the child
// (ru_maxrss). A list of every extent alone would take some 80 MiB there.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/support/test_util.h"
#include "tests/support/tmpfs_mount.h"

extern char** environ;

namespace virtscratch::test {
namespace {

const std::string kBin = VIRT_SCRATCH_BIN;
constexpr uint64_t kExtents = 2'000'000;
constexpr uint64_t kBlock = 4096;
constexpr long kBoundKiB = 64 * 1024;

struct Measured {
  int exitCode = -1;
  long maxRssKiB = 0;
};

// Runs argv with stdout to `out` and stderr to `err`, and the child's peak RSS.
Measured runMeasured(const std::vector<std::string>& argv, const std::string& out,
                     const std::string& err) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  Measured m;
  if (spawned != 0) return m;
  int status = 0;
  struct rusage usage {};
  if (wait4(pid, &status, 0, &usage) != pid) return m;
  m.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  m.maxRssKiB = usage.ru_maxrss;
  return m;
}

TEST(CliMemory, ExportAndInfoOfTwoMillionExtentsStayWithin64MiB) {
  TempDir dir;
  // The 8 GB of data live in memory (a tmpfs, which has SEEK_DATA and SEEK_HOLE like a disk's
  // filesystem) where root can mount one: written to disk and read back they cost minutes.
  std::string imageDir = dir.file("image");
  std::optional<TmpfsMount> tmpfs;
  if (geteuid() == 0) tmpfs.emplace(imageDir, kExtents * kBlock + (uint64_t{64} << 20));
  if (!tmpfs || !tmpfs->mounted()) std::filesystem::create_directories(imageDir);
  const std::string image = imageDir + "/fragmented.raw";
  {
    UniqueFd fd(open(image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd);
    ASSERT_EQ(ftruncate(fd.get(), static_cast<off_t>(kExtents * 2 * kBlock)), 0);
    std::string block(kBlock, 'g');
    for (uint64_t i = 0; i < kExtents; ++i) {
      ASSERT_EQ(pwrite(fd.get(), block.data(), kBlock, static_cast<off_t>(i * 2 * kBlock)),
                static_cast<ssize_t>(kBlock));
    }
  }
  Measured exported = runMeasured({kBin, "export", "--format", "raw", image, "-"},
                                  dir.file("out.gz"), dir.file("export.err"));
  ASSERT_EQ(exported.exitCode, 0) << readFile(dir.file("export.err"));
  // The stream ends with the trailer of the whole disk (ISIZE, the length modulo 2^32). Inflating
  // 16 GB again would double the test's time; the export's bytes are checked with gunzip by the
  // transport tests.
  // (Read with pread: a large buffer here would count in the next child's ru_maxrss, which
  // posix_spawn's shared address space hands on until exec.)
  uint8_t trailer[4] = {};
  {
    UniqueFd gz(open(dir.file("out.gz").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(gz);
    off_t size = lseek(gz.get(), 0, SEEK_END);
    ASSERT_GE(size, 18);
    ASSERT_EQ(pread(gz.get(), trailer, sizeof trailer, size - 4), 4);
  }
  uint32_t isize = 0;
  for (int i = 0; i < 4; ++i) isize |= static_cast<uint32_t>(trailer[i]) << (8 * i);
  EXPECT_EQ(isize, static_cast<uint32_t>(kExtents * 2 * kBlock));
  Measured info = runMeasured({kBin, "info", "--json", "--format", "raw", image},
                              dir.file("info.json"), dir.file("info.err"));
  ASSERT_EQ(info.exitCode, 0) << readFile(dir.file("info.err"));
  EXPECT_NE(
      readFile(dir.file("info.json")).find("\"data-bytes\":" + std::to_string(kExtents * kBlock)),
      std::string::npos)
      << "info did not count every data byte: " << readFile(dir.file("info.json"));
  std::printf("[ memory   ] %llu extents: export peak RSS %ld KiB, info peak RSS %ld KiB\n",
              static_cast<unsigned long long>(kExtents), exported.maxRssKiB, info.maxRssKiB);
  EXPECT_LE(exported.maxRssKiB, kBoundKiB);
  EXPECT_LE(info.maxRssKiB, kBoundKiB);
}

}  // namespace
}  // namespace virtscratch::test
