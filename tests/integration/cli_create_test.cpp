// `virt-scratch create` and `info` as a user runs them, every image checked with the tools users
// trust: qemu-img check/info, sfdisk, blkid, each filesystem's fsck and its own file reader.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <tuple>

#include "tests/support/filesystem_check.h"
#include "tests/support/json_value.h"
#include "tests/support/test_util.h"

namespace virtscratch::test {
namespace {

const std::string kBin = VIRT_SCRATCH_BIN;
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kDiskSize = 512 * kMiB;  // above xfs's 300 MiB minimum, sparse and cheap

std::string labelFor(const std::string& fs) {
  if (fs == "vfat") return "SCRATCH";
  if (fs == "xfs") return "scratch-xfs";  // 11 bytes, under xfs's 12
  return "scratch-" + fs;
}

bool holdsFiles(const std::string& fs) { return fs != "none" && fs != "swap"; }

// A content tree: nested directory, a 0750 file with a known mtime, an empty file and, where the
// filesystem can hold one, a symlink.
void makeContent(const std::string& dir, bool withSymlink) {
  mkdir(dir.c_str(), 0755);
  mkdir((dir + "/sub").c_str(), 0755);
  writeFileAt(dir + "/hello.txt", 0, "hello scratch\n");
  writeFileAt(dir + "/sub/nested.txt", 0, "nested file\n");
  writeFileAt(dir + "/run.sh", 0, "#!/bin/sh\n");
  chmod((dir + "/run.sh").c_str(), 0750);
  writeFileAt(dir + "/empty", 0, "");
  if (withSymlink) symlink("hello.txt", (dir + "/link").c_str());
}

// The guest's bytes as a raw file, converted by qemu-img (not by the code under test).
std::string guestBytes(const TempDir& dir, const std::string& image, const std::string& format) {
  if (format == "raw") return image;
  std::string raw = dir.file("guest.raw");
  auto r = run({"qemu-img", "convert", "-f", "qcow2", "-O", "raw", image, raw});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return raw;
}

void expectFsckClean(const std::string& fs, const std::string& file) {
  CommandResult r = checkFilesystem(fs, file);
  EXPECT_EQ(r.exitCode, 0) << fs << " fsck: " << r.out << r.err;
}

void expectContent(const TempDir& dir, const std::string& fs, const std::string& file) {
  if (fs.starts_with("ext")) {
    EXPECT_EQ(run({"debugfs", "-R", "cat /hello.txt", file}).out, "hello scratch\n");
    EXPECT_EQ(run({"debugfs", "-R", "cat /sub/nested.txt", file}).out, "nested file\n");
    std::string stat = run({"debugfs", "-R", "stat /run.sh", file}).out;
    EXPECT_NE(stat.find("Mode:  0750"), std::string::npos) << stat;
    std::string link = run({"debugfs", "-R", "stat /link", file}).out;
    EXPECT_NE(link.find("Fast link dest: \"hello.txt\""), std::string::npos) << link;
  } else if (fs == "vfat") {
    EXPECT_EQ(run({"mtype", "-i", file, "::/hello.txt"}).out, "hello scratch\n");
    EXPECT_EQ(run({"mtype", "-i", file, "::/sub/nested.txt"}).out, "nested file\n");
  } else if (fs == "btrfs") {
    std::string out = dir.file("restored");
    mkdir(out.c_str(), 0755);
    auto r = run({"btrfs", "restore", "-S", file, out});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    EXPECT_EQ(readFile(out + "/hello.txt"), "hello scratch\n");
    EXPECT_EQ(readFile(out + "/sub/nested.txt"), "nested file\n");
    char target[64] = {};
    EXPECT_GT(readlink((out + "/link").c_str(), target, sizeof target - 1), 0);
    EXPECT_STREQ(target, "hello.txt");
  } else if (fs == "xfs") {
    auto r = run({"xfs_db", "-r", "-c", "ls /", "-c", "ls /sub", file});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    for (const char* name : {"hello.txt", "run.sh", "empty", "link", "nested.txt"}) {
      EXPECT_NE(r.out.find(name), std::string::npos) << name << " missing in: " << r.out;
    }
  }
}

using Combo = std::tuple<std::string, std::string, std::string>;  // filesystem, table, format

class CreateMatrix : public ::testing::TestWithParam<Combo> {};

TEST_P(CreateMatrix, MakesAnImageThatRealToolsAccept) {
  const auto& [fs, table, format] = GetParam();
  TempDir dir;
  std::string content = dir.file("content");
  bool withContent = holdsFiles(fs);
  if (withContent) makeContent(content, fs != "vfat");
  std::string image = dir.file("disk." + format);
  std::string uuid = fs == "vfat" ? "1234-ABCD" : "3f1a52a6-1c1b-4c3e-9d59-0a4a2a6f7b10";

  std::vector<std::string> argv = {kBin,   "create",       "--size", "512M",        "--format",
                                   format, "--filesystem", fs,       "--partition", table};
  if (fs != "none") argv.insert(argv.end(), {"--label", labelFor(fs), "--uuid", uuid});
  if (withContent) argv.insert(argv.end(), {"--content", content});
  argv.push_back(image);
  auto created = run(argv);
  ASSERT_EQ(created.exitCode, 0) << created.err;
  EXPECT_EQ(created.err, "");

  // The container, as qemu-img sees it.
  auto info = run({"qemu-img", "info", "--output=json", image});
  ASSERT_EQ(info.exitCode, 0) << info.err;
  auto qinfo = Json::parse(info.out);
  EXPECT_EQ(qinfo["format"].str(), format);
  EXPECT_EQ(qinfo["virtual-size"].u64(), kDiskSize);
  if (format == "qcow2") {
    auto check = run({"qemu-img", "check", "--output=json", image});
    EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
    EXPECT_EQ(qinfo["format-specific"]["data"]["compat"].str(), "1.1");  // version 3
  }

  std::string raw = guestBytes(dir, image, format);
  uint64_t fsOffset = 0, fsSize = kDiskSize;
  if (table != "none") {
    auto sf = run({"sfdisk", "--json", raw});
    ASSERT_EQ(sf.exitCode, 0) << sf.err;
    auto pt = Json::parse(sf.out)["partitiontable"];
    EXPECT_EQ(pt["label"].str(), table == "mbr" ? "dos" : "gpt");
    ASSERT_EQ(pt["partitions"].array().size(), 1u);
    const auto& p = pt["partitions"][0];
    EXPECT_EQ(p["start"].u64(), 2048u);
    fsOffset = p["start"].u64() * 512;
    fsSize = p["size"].u64() * 512;
    EXPECT_EQ(fsOffset % kMiB, 0u);
    EXPECT_LE(fsOffset + fsSize, kDiskSize);
    std::string type = p["type"].str();
    if (table == "gpt") {
      const char* expected = fs == "swap"   ? "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"
                             : fs == "vfat" ? "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
                                            : "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
      EXPECT_EQ(type, expected);
      if (fs != "none") {
        EXPECT_EQ(p["name"].str(), labelFor(fs));
      }
    } else {
      EXPECT_EQ(type, fs == "swap" ? "82" : fs == "vfat" ? "c" : "83");
    }
    EXPECT_EQ(run({"sfdisk", "--verify", raw}).exitCode, 0);
  }

  std::string fsFile = dir.file("fs.img");
  extractRange(raw, fsOffset, fsSize, fsFile);
  auto probe = run({"blkid", "-p", "-o", "export", fsFile});
  auto tags = parseExport(probe.out);
  if (fs == "none") {
    EXPECT_FALSE(tags.contains("TYPE")) << probe.out;
    return;
  }
  ASSERT_EQ(probe.exitCode, 0) << probe.err;
  EXPECT_EQ(tags["TYPE"], fs);
  EXPECT_EQ(tags["LABEL"], labelFor(fs));
  EXPECT_EQ(tags["UUID"], uuid);
  expectFsckClean(fs, fsFile);
  if (withContent) expectContent(dir, fs, fsFile);

  // virt-scratch info agrees with what the tools found.
  auto ours = run({kBin, "info", "--json", image});
  ASSERT_EQ(ours.exitCode, 0) << ours.err;
  auto j = Json::parse(ours.out);
  EXPECT_EQ(j["format"].str(), format);
  EXPECT_EQ(j["virtual-size"].u64(), kDiskSize);
  EXPECT_EQ(j["partition-table"].str(), table == "none" ? "none" : table);
  ASSERT_EQ(j["filesystems"].array().size(), 1u);
  EXPECT_EQ(j["filesystems"][0]["type"].str(), fs);
  EXPECT_EQ(j["filesystems"][0]["label"].str(), labelFor(fs));
  EXPECT_EQ(j["filesystems"][0]["uuid"].str(), uuid);
  EXPECT_EQ(j["filesystems"][0]["offset"].u64(), fsOffset);
}

INSTANTIATE_TEST_SUITE_P(EveryFilesystemTableAndFormat, CreateMatrix,
                         ::testing::Combine(::testing::Values("none", "ext2", "ext3", "ext4", "xfs",
                                                              "btrfs", "vfat", "swap"),
                                            ::testing::Values("none", "mbr", "gpt"),
                                            ::testing::Values("raw", "qcow2")),
                         [](const auto& param) {
                           return std::get<0>(param.param) + "_" + std::get<1>(param.param) + "_" +
                                  std::get<2>(param.param);
                         });

}  // namespace
}  // namespace virtscratch::test
