// Every rejected input of `virt-scratch create` and `info`: the exit status, a message that names
// the bad value, and nothing left behind in the directory.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ostream>
#include <string>
#include <vector>

#include "tests/support/json_value.h"
#include "tests/support/test_util.h"

namespace virtscratch::test {
namespace {

const std::string kBin = VIRT_SCRATCH_BIN;

struct BadCreate {
  std::string name;
  std::vector<std::string> args;  // after "create", before the path
  int exitCode;
  std::string message;  // must appear in stderr
};

void PrintTo(const BadCreate& c, std::ostream* os) { *os << c.name; }

class RejectedCreate : public ::testing::TestWithParam<BadCreate> {};

TEST_P(RejectedCreate, FailsWithAClearMessageAndLeavesNothing) {
  const BadCreate& c = GetParam();
  TempDir dir;
  std::vector<std::string> argv = {kBin, "create"};
  argv.insert(argv.end(), c.args.begin(), c.args.end());
  argv.push_back(dir.file("disk.img"));
  auto r = run(argv);
  EXPECT_EQ(r.exitCode, c.exitCode) << r.err;
  EXPECT_NE(r.err.find(c.message), std::string::npos) << "stderr was: " << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(dir.entries().empty());
}

const std::string kLong17(17, 'a');

INSTANTIATE_TEST_SUITE_P(
    Inputs, RejectedCreate,
    ::testing::Values(
        BadCreate{"NoSize", {}, 2, "--size is required"},
        BadCreate{"ZeroSize", {"--size", "0"}, 2, "invalid size '0': it is zero"},
        BadCreate{"NegativeSize", {"--size", "-1G"}, 2, "'-1G': it is negative"},
        BadCreate{"MalformedSize", {"--size", "10GB"}, 2, "'10GB'"},
        BadCreate{"OverflowingSize", {"--size", "99999999999999999999"}, 2, "too large"},
        BadCreate{"SizeAboveMaximum", {"--size", "65T"}, 2, "above the maximum of 64 TiB"},
        BadCreate{
            "UnknownFormat", {"--size", "1G", "--format", "vmdk"}, 2, "unknown format 'vmdk'"},
        BadCreate{"UnknownFilesystem",
                  {"--size", "1G", "--filesystem", "ntfs"},
                  2,
                  "unknown filesystem 'ntfs'"},
        BadCreate{"UnknownTable",
                  {"--size", "1G", "--partition", "dos"},
                  2,
                  "unknown partition table 'dos'"},
        BadCreate{"UnknownPreallocation",
                  {"--size", "1G", "--preallocation", "some"},
                  2,
                  "unknown preallocation 'some'"},
        BadCreate{
            "UnknownOption", {"--size", "1G", "--colour", "red"}, 2, "unknown option '--colour'"},
        BadCreate{"OptionGivenTwice", {"--size", "1G", "--size", "2G"}, 2, "given twice"},
        BadCreate{"MetadataOnRaw",
                  {"--size", "1G", "--format", "raw", "--preallocation", "metadata"},
                  1,
                  "preallocation 'metadata' needs format qcow2"},
        BadCreate{
            "MbrPastTwoTiB", {"--size", "3T", "--partition", "mbr"}, 1, "use --partition gpt"},
        BadCreate{"Ext4LabelTooLong", {"--size", "1G", "--label", kLong17}, 1, kLong17},
        BadCreate{"XfsLabelTooLong",
                  {"--size", "1G", "--filesystem", "xfs", "--label", "thirteen-char"},
                  1,
                  "thirteen-char"},
        BadCreate{"VfatLabelTooLong",
                  {"--size", "1G", "--filesystem", "vfat", "--label", "TWELVECHARSX"},
                  1,
                  "TWELVECHARSX"},
        BadCreate{"SwapLabelTooLong",
                  {"--size", "1G", "--filesystem", "swap", "--label", "sixteen-chars-xx"},
                  1,
                  "sixteen-chars-xx"},
        BadCreate{
            "LabelWithControlCharacter", {"--size", "1G", "--label", "bad\tlabel"}, 1, "label"},
        BadCreate{"LabelWithoutFilesystem",
                  {"--size", "1G", "--filesystem", "none", "--label", "x"},
                  1,
                  "label"},
        BadCreate{"MalformedUuid", {"--size", "1G", "--uuid", "not-a-uuid"}, 1, "not-a-uuid"},
        BadCreate{"VfatUuidInUuidForm",
                  {"--size", "1G", "--filesystem", "vfat", "--uuid",
                   "3f1a52a6-1c1b-4c3e-9d59-0a4a2a6f7b10"},
                  1,
                  "3f1a52a6-1c1b-4c3e-9d59-0a4a2a6f7b10"},
        BadCreate{"MissingContent",
                  {"--size", "1G", "--content", "/nonexistent/dir"},
                  1,
                  "/nonexistent/dir"},
        BadCreate{"ContentIsAFile",
                  {"--size", "1G", "--content", "/etc/hostname"},
                  1,
                  "'/etc/hostname' is not a directory"},
        BadCreate{"ContentOnSwap",
                  {"--size", "1G", "--filesystem", "swap", "--content", "/etc"},
                  1,
                  "cannot hold files"},
        BadCreate{"XfsTooSmall",
                  {"--size", "100M", "--filesystem", "xfs"},
                  1,
                  "xfs filesystem needs at least"},
        BadCreate{"TableOnTinyDisk",
                  {"--size", "1M", "--filesystem", "none", "--partition", "gpt"},
                  1,
                  "too small"}),
    [](const auto& param) { return param.param.name; });

TEST(CreateCommand, NeverReplacesAnExistingFileWithoutForce) {
  TempDir dir;
  std::string path = dir.file("disk.qcow2");
  writeFileAt(path, 0, "precious");
  auto r = run({kBin, "create", "--size", "64M", path});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--force"), std::string::npos) << r.err;
  EXPECT_EQ(readFile(path), "precious");
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"disk.qcow2"});

  auto forced = run({kBin, "create", "--size", "64M", "--force", path});
  EXPECT_EQ(forced.exitCode, 0) << forced.err;
  EXPECT_EQ(run({"qemu-img", "check", path}).exitCode, 0);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"disk.qcow2"});
}

TEST(CreateCommand, ReportsAMissingDirectory) {
  auto r = run({kBin, "create", "--size", "64M", "/nonexistent-dir/disk.qcow2"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("/nonexistent-dir"), std::string::npos) << r.err;
}

TEST(CreateCommand, MakesLargeSparseImagesThatStaySmallOnDisk) {
  TempDir dir;
  std::string path = dir.file("big.qcow2");
  auto r = run({kBin, "create", "--size", "1T", "--partition", "gpt", path});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto check = run({"qemu-img", "check", path});
  EXPECT_EQ(check.exitCode, 0) << check.out;
  auto info = Json::parse(run({"qemu-img", "info", "--output=json", path}).out);
  EXPECT_EQ(info["virtual-size"].u64(), 1ull << 40);
  EXPECT_LT(allocatedBytesOf(path), 512ull << 20);
}

TEST(CreateCommand, PreallocatesAsQemuImgDoes) {
  TempDir dir;
  constexpr uint64_t kSize = 64ull << 20;
  struct Case {
    std::string format, mode;
  };
  for (const Case& c : std::vector<Case>{{"raw", "falloc"},
                                         {"raw", "full"},
                                         {"qcow2", "metadata"},
                                         {"qcow2", "falloc"},
                                         {"qcow2", "full"}}) {
    std::string path = dir.file(c.format + "-" + c.mode);
    auto r = run(
        {kBin, "create", "--size", "64M", "--format", c.format, "--preallocation", c.mode, path});
    ASSERT_EQ(r.exitCode, 0) << c.mode << ": " << r.err;
    if (c.format == "qcow2") {
      EXPECT_EQ(run({"qemu-img", "check", path}).exitCode, 0) << c.mode;
      // Every guest cluster is mapped to the file, as with qemu-img's preallocation.
      auto map = Json::parse(run({"qemu-img", "map", "--output=json", path}).out);
      uint64_t mapped = 0;
      for (const auto& m : map.array()) {
        if (m["data"].boolean() && m.has("offset")) mapped += m["length"].u64();
      }
      EXPECT_EQ(mapped, kSize) << c.mode;
    }
    if (c.mode != "metadata") {
      EXPECT_GE(allocatedBytesOf(path), kSize) << c.format << c.mode;
    }
    auto ours = Json::parse(run({kBin, "info", "--json", path}).out);
    ASSERT_EQ(ours["filesystems"].array().size(), 1u);
    EXPECT_EQ(ours["filesystems"][0]["type"].str(), "ext4");
  }
}

TEST(CreateCommand, InterruptedCreationLeavesNothing) {
  TempDir dir;
  std::string path = dir.file("slow.raw");
  int errPipe[2];
  ASSERT_EQ(pipe(errPipe), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(errPipe[1], 2);
    close(errPipe[0]);
    execl(kBin.c_str(), kBin.c_str(), "create", "--size", "2G", "--format", "raw",
          "--preallocation", "full", "--progress", path.c_str(), nullptr);
    _exit(127);
  }
  close(errPipe[1]);
  // Wait for the first progress line: the zero-filling has begun.
  std::string err;
  char c;
  while (err.find('\n') == std::string::npos && read(errPipe[0], &c, 1) == 1) err += c;
  ASSERT_NE(err.find(" of 2 GiB"), std::string::npos) << "no progress line: " << err;
  kill(pid, SIGTERM);
  while (read(errPipe[0], &c, 1) == 1) err += c;
  close(errPipe[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << err;
  EXPECT_NE(err.find("was not created"), std::string::npos) << err;
  EXPECT_TRUE(dir.entries().empty());
}

TEST(CreateCommand, HelpDescribesEveryOption) {
  auto r = run({kBin, "create", "--help"});
  EXPECT_EQ(r.exitCode, 0);
  for (const char* option : {"--size", "--format", "--filesystem", "--label", "--uuid",
                             "--partition", "--preallocation", "--content", "--force"}) {
    EXPECT_NE(r.out.find(option), std::string::npos) << option;
  }
  EXPECT_EQ(run({kBin, "info", "--help"}).exitCode, 0);
  EXPECT_EQ(run({kBin, "--help"}).exitCode, 0);
  EXPECT_EQ(run({kBin, "frobnicate"}).exitCode, 2);
  EXPECT_EQ(run({kBin}).exitCode, 2);
}

TEST(InfoCommand, RejectsMissingFilesAndNamesThem) {
  auto r = run({kBin, "info", "/nonexistent/disk.qcow2"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_NE(r.err.find("/nonexistent/disk.qcow2"), std::string::npos) << r.err;
  EXPECT_EQ(run({kBin, "info"}).exitCode, 2);
}

}  // namespace
}  // namespace virtscratch::test
