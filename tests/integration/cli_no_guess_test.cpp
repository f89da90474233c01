// virt-scratch never takes a guest's bytes for a format: a raw disk whose first sector is a
// qcow2 header naming a host file (and claiming 4 TiB) is refused without --format, naming the
// backing file and the option, and read as the raw bytes it is with --format raw; import reads
// gzip only from what is gzip. Checked with gunzip and qemu-img, not with the engine.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace virtscratch::test {
namespace {

namespace fs = std::filesystem;

const std::string kBin = VIRT_SCRATCH_BIN;
constexpr uint64_t kDiskSize = 8 << 20;
constexpr char kSecret[] = "the secret of the host, never to be exported";

class CliNoGuess : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    secret_ = dir_.file("outside-secret.txt");
    writeFileAt(secret_, 0, kSecret);
    ASSERT_EQ(run({"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", secret_, "-F", "raw",
                   dir_.file("header.qcow2"), "4T"})
                  .exitCode,
              0);
    disk_ = dir_.file("disk.raw");
    makeSparseFile(disk_, kDiskSize);
    writeFileAt(disk_, 0, readFile(dir_.file("header.qcow2")));
    writeFileAt(disk_, 5 << 20, "guest data after the header");
  }

  CommandResult cli(std::vector<std::string> args) {
    args.insert(args.begin(), kBin);
    return run(args);
  }

  // The decompressed bytes of a gzip file, by gunzip.
  std::string gunzipped(const std::string& gz) {
    CommandResult r = run({"gzip", "-dc", gz});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return r.out;
  }

  void expectRefusedNamingTheBackingFile(const std::vector<std::string>& args) {
    SCOPED_TRACE(args[0]);
    CommandResult r = cli(args);
    EXPECT_EQ(r.exitCode, 1) << r.err;
    EXPECT_NE(r.err.find("'" + secret_ + "'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--format qcow2"), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find(kSecret), std::string::npos);
  }

  TempDir dir_;
  std::string secret_, disk_;
};

TEST_F(CliNoGuess, RefusesARawDiskWithAQcow2HeaderWithoutFormatNamingTheBackingFile) {
  const std::string before = readFile(disk_);
  expectRefusedNamingTheBackingFile({"info", disk_});
  expectRefusedNamingTheBackingFile({"export", disk_, dir_.file("out.gz")});
  expectRefusedNamingTheBackingFile({"clone", disk_, dir_.file("clone.raw")});
  expectRefusedNamingTheBackingFile({"resize", disk_, "16M"});
  EXPECT_FALSE(fileExists(dir_.file("out.gz")));
  EXPECT_FALSE(fileExists(dir_.file("clone.raw")));
  EXPECT_EQ(readFile(disk_), before);
}

TEST_F(CliNoGuess, ExportsTheRawBytesWithFormatRawNotTheBackingFileNorTheClaimedSize) {
  CommandResult r = cli({"export", "--format", "raw", disk_, dir_.file("out.gz")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string bytes = gunzipped(dir_.file("out.gz"));
  EXPECT_EQ(bytes.size(), kDiskSize) << "the header claims 4 TiB; the file has 8 MiB";
  EXPECT_TRUE(bytes == readFile(disk_)) << "the export is not the disk's raw bytes";
  EXPECT_EQ(bytes.find(kSecret), std::string::npos) << "a host file reached the export";
}

TEST_F(CliNoGuess, InfoWithFormatRawSaysRaw) {
  CommandResult r = cli({"info", "--format", "raw", disk_});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("format:          raw"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(secret_), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(kSecret), std::string::npos) << r.out;
  CommandResult json = cli({"info", "--json", "--format", "raw", disk_});
  ASSERT_EQ(json.exitCode, 0) << json.err;
  EXPECT_NE(json.out.find("\"virtual-size\":" + std::to_string(kDiskSize)), std::string::npos)
      << json.out;
}

TEST_F(CliNoGuess, ClonesAndImportsTheRawBytesWithFormatRaw) {
  CommandResult clone = cli({"clone", "--format", "raw", disk_, dir_.file("clone.raw")});
  ASSERT_EQ(clone.exitCode, 0) << clone.err;
  EXPECT_TRUE(readFile(dir_.file("clone.raw")) == readFile(disk_));
  CommandResult import =
      cli({"import", "--from", "raw", disk_, dir_.file("imported.qcow2"), "--format", "qcow2"});
  ASSERT_EQ(import.exitCode, 0) << import.err;
  CommandResult convert = run({"qemu-img", "convert", "-f", "qcow2", "-O", "raw",
                               dir_.file("imported.qcow2"), dir_.file("imported.raw")});
  ASSERT_EQ(convert.exitCode, 0) << convert.err;
  EXPECT_TRUE(readFile(dir_.file("imported.raw")) == readFile(disk_));
}

TEST_F(CliNoGuess, FollowsABackingFileWhenTheUserNamesTheFormat) {
  std::string base = dir_.file("base.raw");
  makeSparseFile(base, 1 << 20);
  writeFileAt(base, 4096, "bytes of the base");
  std::string overlay = dir_.file("overlay.qcow2");
  ASSERT_EQ(
      run({"qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", overlay}).exitCode,
      0);
  CommandResult r = cli({"export", "--format", "qcow2", overlay, dir_.file("overlay.gz")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(gunzipped(dir_.file("overlay.gz")) == readFile(base));
  CommandResult probed = cli({"info", overlay});
  EXPECT_EQ(probed.exitCode, 1);
  EXPECT_NE(probed.err.find("'" + base + "'"), std::string::npos) << probed.err;
}

TEST_F(CliNoGuess, ImportReadsGzipOnlyFromGzip) {
  std::string text = dir_.file("no.gz");
  writeFileAt(text, 0, "not gzip\n");
  std::string out = dir_.file("out.raw");
  CommandResult r = cli({"import", text, out});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_NE(r.err.find("'" + text + "'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--from"), std::string::npos) << r.err;
  EXPECT_FALSE(fileExists(out));
  // A raw image is not gzip either: it needs --from.
  CommandResult raw = cli({"import", disk_, out});
  EXPECT_EQ(raw.exitCode, 1);
  EXPECT_NE(raw.err.find("--from"), std::string::npos) << raw.err;
  EXPECT_FALSE(fileExists(out));
  // Standard input is gzip or nothing.
  CommandResult piped = runWithInput({kBin, "import", "-", out}, "not gzip either\n");
  EXPECT_EQ(piped.exitCode, 1);
  EXPECT_FALSE(fileExists(out));
  CommandResult badFrom = cli({"import", "--from", "vmdk", disk_, out});
  EXPECT_EQ(badFrom.exitCode, 2);
  EXPECT_NE(badFrom.err.find("'vmdk'"), std::string::npos) << badFrom.err;
  CommandResult badFormat = cli({"export", "--format", "QCOW2", disk_, dir_.file("x.gz")});
  EXPECT_EQ(badFormat.exitCode, 2);
  EXPECT_NE(badFormat.err.find("'QCOW2'"), std::string::npos) << badFormat.err;
}

}  // namespace
}  // namespace virtscratch::test
