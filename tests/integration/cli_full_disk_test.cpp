// `virt-scratch import`, `create` and `export` writing onto a full filesystem (a tmpfs of 32 MiB
// mounted by the test): each ends with exit 1 and an error that names the file and says there is
// no space, leaves no file and no space taken, and a failed --force keeps the old file intact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "tests/support/test_util.h"
#include "tests/support/tmpfs_mount.h"

namespace virtscratch::test {
namespace {

const std::string kBin = VIRT_SCRATCH_BIN;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kDiskSize = 32 * kMiB;

class CliFullDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting the small tmpfs needs root";
    dir_ = std::make_unique<TempDir>();
    tmpfs_ = std::make_unique<TmpfsMount>(small(), kDiskSize);
    if (!tmpfs_->mounted()) {
      GTEST_SKIP() << "cannot mount a tmpfs on " << small()
                   << " (needs CAP_SYS_ADMIN): " << tmpfs_->error();
    }
  }
  void TearDown() override {
    tmpfs_.reset();  // before the directory it is mounted in goes
    dir_.reset();
  }

  std::string small() const { return dir_->file("small"); }
  std::string onSmall(const std::string& name) const { return small() + "/" + name; }

  // The names on the small filesystem, hidden ones included.
  std::vector<std::string> smallFiles() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(small())) {
      names.push_back(e.path().filename());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  // The bytes df reports available on the small filesystem.
  uint64_t dfAvailable() const {
    auto result = run({"df", "-B1", "--output=avail", small()});
    EXPECT_EQ(result.exitCode, 0) << result.err;
    size_t newline = result.out.find('\n');
    return newline == std::string::npos ? 0 : std::stoull(result.out.substr(newline + 1));
  }

  // A raw image of `bytes` that is data all through (no run of zeros for a hole), and its gzip.
  std::string gzipOfData(const std::string& name, uint64_t bytes) {
    std::string raw = dir_->file(name);
    {
      std::ofstream out(raw, std::ios::binary);
      std::string block(kMiB, 'x');
      for (uint64_t done = 0; done < bytes; done += kMiB) {
        for (size_t i = 0; i < block.size(); i += 512) block[i] = static_cast<char>(done / kMiB);
        out.write(block.data(), static_cast<std::streamsize>(block.size()));
      }
    }
    EXPECT_EQ(run({"gzip", "-1", "-k", raw}).exitCode, 0);
    return raw + ".gz";
  }

  // `replaced`: the output existed, and the message must say it is kept.
  void expectNoSpaceError(const CommandResult& result, const std::string& command,
                          const std::string& file, bool replaced = false) {
    EXPECT_EQ(result.exitCode, 1) << result.err;
    EXPECT_EQ(result.err.rfind("virt-scratch " + command + ": ", 0), 0u) << result.err;
    std::string says =
        replaced ? "' was not replaced; the file already there is kept" : "' was not created";
    EXPECT_NE(result.err.find("'" + file + says), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("No space left on device"), std::string::npos) << result.err;
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<TmpfsMount> tmpfs_;
};

TEST_F(CliFullDisk, ImportOfAGzipWhoseDataDoesNotFitFailsAndLeavesNothing) {
  std::string in = gzipOfData("big.raw", 48 * kMiB);
  uint64_t available = dfAvailable();
  std::string out = onSmall("big.raw");
  expectNoSpaceError(run({kBin, "import", in, out}), "import", out);
  EXPECT_EQ(smallFiles(), std::vector<std::string>{});
  EXPECT_EQ(dfAvailable(), available);
}

TEST_F(CliFullDisk, ImportToQcow2ThatRunsOutOfSpaceConvertingFailsAndLeavesNothing) {
  // 24 MiB fit as the raw intermediate, not a second time as the qcow2 made from it.
  std::string in = gzipOfData("mid.raw", 24 * kMiB);
  uint64_t available = dfAvailable();
  std::string out = onSmall("mid.qcow2");
  expectNoSpaceError(run({kBin, "import", "--format", "qcow2", in, out}), "import", out);
  EXPECT_EQ(smallFiles(), std::vector<std::string>{});
  EXPECT_EQ(dfAvailable(), available);
  // From standard input the same.
  auto piped = runWithInput({kBin, "import", "--format", "qcow2", "-", out}, readFile(in));
  expectNoSpaceError(piped, "import", out);
  EXPECT_EQ(smallFiles(), std::vector<std::string>{});
}

TEST_F(CliFullDisk, AFailedForcedImportKeepsTheOldFile) {
  std::string old = gzipOfData("old.raw", 4 * kMiB);
  std::string out = onSmall("disk.raw");
  ASSERT_EQ(run({kBin, "import", old, out}).exitCode, 0);
  ASSERT_EQ(run({"cmp", out, dir_->file("old.raw")}).exitCode, 0);
  uint64_t available = dfAvailable();

  std::string big = gzipOfData("big.raw", 48 * kMiB);
  expectNoSpaceError(run({kBin, "import", "--force", big, out}), "import", out, true);
  EXPECT_EQ(run({"cmp", out, dir_->file("old.raw")}).exitCode, 0);
  EXPECT_EQ(smallFiles(), std::vector<std::string>{"disk.raw"});
  EXPECT_EQ(dfAvailable(), available);
}

TEST_F(CliFullDisk, CreateOfAPreallocatedImageThatDoesNotFitLeavesNothing) {
  uint64_t available = dfAvailable();
  for (const char* preallocation : {"falloc", "full"}) {
    SCOPED_TRACE(preallocation);
    std::string out = onSmall(std::string(preallocation) + ".raw");
    auto result = run({kBin, "create", "--size", "64M", "--format", "raw", "--preallocation",
                       preallocation, out});
    expectNoSpaceError(result, "create", out);
    EXPECT_EQ(smallFiles(), std::vector<std::string>{});
    EXPECT_EQ(dfAvailable(), available);
  }
  // A forced create that fails keeps what was there.
  std::string kept = onSmall("kept.qcow2");
  ASSERT_EQ(run({kBin, "create", "--size", "1G", kept}).exitCode, 0);
  std::string before = readFile(kept);
  auto forced = run({kBin, "create", "--force", "--size", "64M", "--format", "raw",
                     "--preallocation", "full", kept});
  expectNoSpaceError(forced, "create", kept, true);
  EXPECT_EQ(readFile(kept), before);
  EXPECT_EQ(run({"qemu-img", "check", kept}).exitCode, 0);
  EXPECT_EQ(smallFiles(), std::vector<std::string>{"kept.qcow2"});
}

TEST_F(CliFullDisk, ExportOfMoreThanFitsFailsAndLeavesNothing) {
  // Random bytes: gzip cannot make them smaller than the disk.
  std::string image = dir_->file("random.raw");
  {
    std::mt19937_64 rng(7);
    std::string data(40 * kMiB, '\0');
    for (size_t i = 0; i + 8 <= data.size(); i += 8) {
      uint64_t v = rng();
      std::memcpy(&data[i], &v, 8);
    }
    writeFileAt(image, 0, data);
  }
  uint64_t available = dfAvailable();
  std::string out = onSmall("random.gz");
  expectNoSpaceError(run({kBin, "export", "--threads", "2", image, out}), "export", out);
  EXPECT_EQ(smallFiles(), std::vector<std::string>{});
  EXPECT_EQ(dfAvailable(), available);
}

}  // namespace
}  // namespace virtscratch::test
