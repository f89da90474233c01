#include "image/resize.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "image/clone.h"
#include "image/creator.h"
#include "image/spec.h"
#include "tests/support/filesystem_check.h"
#include "tests/support/json_value.h"
#include "tests/support/qemu_img.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

const OpenOptions kProbe = cliOpenOptions(std::nullopt);  // as the CLI without --format

using test::CommandResult;
using test::guestRaw;
using test::Json;
using test::qemuImgInfo;
using test::run;
using test::TempDir;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kTiB = 1024 * 1024 * kMiB;
constexpr char kHello[] = "hello from before the resize\n";

void makeImage(const TempDir& dir, const std::string& path, ImageFormat format, Filesystem fs,
               PartitionTable table, uint64_t size) {
  ImageSpec spec;
  spec.size = size;
  spec.format = format;
  spec.filesystem = fs;
  spec.partition = table;
  spec.label = "grow";
  if (fs == Filesystem::kExt4) {
    std::string content = dir.file("content");
    std::filesystem::create_directories(content);
    test::writeFileAt(content + "/hello.txt", 0, kHello);
    spec.contentDir = content;
  }
  Status status = createImage(path, spec, {});
  ASSERT_TRUE(status.ok()) << status.message();
}

// A CRC of the whole file: enough to notice a change, and quick on sparse files.
std::string checksum(const std::string& path) { return run({"cksum", path}).out; }

struct Placed {
  std::string file;  // the filesystem alone
  uint64_t size = 0;
};

// The filesystem of a raw disk, after checking the table with sfdisk: the first partition
// reaches the end (GPT: the last MiB boundary before the backup) and --verify finds nothing.
Placed checkedFilesystemOf(const TempDir& dir, const std::string& raw, PartitionTable table) {
  uint64_t diskSize = std::filesystem::file_size(raw);
  if (table == PartitionTable::kNone) return {raw, diskSize};
  CommandResult dump = run({"sfdisk", "--json", raw});
  EXPECT_EQ(dump.exitCode, 0) << dump.err;
  Json t = Json::parse(dump.out)["partitiontable"];
  uint64_t start = t["partitions"][0]["start"].u64() * 512;
  uint64_t size = t["partitions"][0]["size"].u64() * 512;
  uint64_t usableEnd = diskSize;
  if (table == PartitionTable::kGpt) {
    EXPECT_EQ(t["lastlba"].u64(), diskSize / 512 - 34);  // the backup sits at the new end
    usableEnd = (t["lastlba"].u64() + 1) * 512;
  }
  EXPECT_EQ(start + size, usableEnd / kMiB * kMiB);
  CommandResult verify = run({"sfdisk", "--verify", raw});
  EXPECT_EQ(verify.exitCode, 0) << verify.out << verify.err;
  EXPECT_EQ(verify.out.find("Warning"), std::string::npos) << verify.out;
  EXPECT_EQ(verify.err, "");
  Placed fs{dir.file("partition.fs"), size};
  test::extractRange(raw, start, size, fs.file);
  return fs;
}

struct GrowCase {
  ImageFormat format;
  PartitionTable table;
};

class ResizeOfExt4 : public testing::TestWithParam<GrowCase> {};

TEST_P(ResizeOfExt4, GrowsTheImageThePartitionAndTheFilesystem) {
  const GrowCase c = GetParam();
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, c.format, Filesystem::kExt4, c.table, 64 * kMiB);
  Placed before = checkedFilesystemOf(dir, guestRaw(image, dir.file("guest.raw")), c.table);
  std::string uuid =
      test::parseExport(run({"blkid", "-p", "-o", "export", before.file}).out)["UUID"];

  auto result = resizeImage(image, 160 * kMiB, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->oldSize, 64 * kMiB);
  EXPECT_EQ(result->newSize, 160 * kMiB);
  EXPECT_EQ(result->partitionGrown, c.table != PartitionTable::kNone);
  EXPECT_TRUE(result->filesystemGrown);
  EXPECT_EQ(result->note, "");

  Json info = qemuImgInfo(image);
  EXPECT_EQ(info["format"].str(), std::string(toString(c.format)));
  EXPECT_EQ(info["virtual-size"].u64(), 160 * kMiB);
  if (c.format == ImageFormat::kQcow2) {
    CommandResult check = run({"qemu-img", "check", image});
    EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  }
  Placed fs = checkedFilesystemOf(dir, guestRaw(image, dir.file("guest.raw")), c.table);
  EXPECT_GT(fs.size, 150 * kMiB);
  CommandResult fsck = run({"e2fsck", "-fn", fs.file});
  EXPECT_EQ(fsck.exitCode, 0) << fsck.out << fsck.err;
  auto header = test::ext2Header(fs.file);
  uint64_t blockSize = std::stoull(header["Block size"]);
  EXPECT_EQ(std::stoull(header["Block count"]), fs.size / blockSize);
  auto blkid = test::parseExport(run({"blkid", "-p", "-o", "export", fs.file}).out);
  EXPECT_EQ(blkid["UUID"], uuid);
  EXPECT_EQ(blkid["LABEL"], "grow");
  EXPECT_EQ(run({"debugfs", "-R", "cat /hello.txt", fs.file}).out, kHello);
}

std::string caseName(const testing::TestParamInfo<GrowCase>& info) {
  return std::string(toString(info.param.format)) + "_" + std::string(toString(info.param.table));
}

INSTANTIATE_TEST_SUITE_P(Images, ResizeOfExt4,
                         testing::Values(GrowCase{ImageFormat::kRaw, PartitionTable::kNone},
                                         GrowCase{ImageFormat::kRaw, PartitionTable::kMbr},
                                         GrowCase{ImageFormat::kRaw, PartitionTable::kGpt},
                                         GrowCase{ImageFormat::kQcow2, PartitionTable::kNone},
                                         GrowCase{ImageFormat::kQcow2, PartitionTable::kMbr},
                                         GrowCase{ImageFormat::kQcow2, PartitionTable::kGpt}),
                         caseName);

TEST(Resize, RefusesToShrinkNamingBothSizes) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kGpt, 64 * kMiB);
  std::string before = checksum(image);
  auto result = resizeImage(image, 32 * kMiB, kProbe);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  const std::string& message = result.status().message();
  EXPECT_NE(message.find(std::to_string(64 * kMiB)), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(32 * kMiB)), std::string::npos) << message;
  EXPECT_NE(message.find(image), std::string::npos) << message;
  EXPECT_EQ(checksum(image), before);
}

TEST(Resize, ChangesNothingForTheSameSize) {
  TempDir dir;
  std::string image = dir.file("disk.qcow2");
  makeImage(dir, image, ImageFormat::kQcow2, Filesystem::kExt4, PartitionTable::kGpt, 64 * kMiB);
  std::string before = checksum(image);
  auto result = resizeImage(image, 64 * kMiB, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->oldSize, 64 * kMiB);
  EXPECT_EQ(result->newSize, 64 * kMiB);
  EXPECT_FALSE(result->partitionGrown);
  EXPECT_FALSE(result->filesystemGrown);
  EXPECT_EQ(checksum(image), before);
}

TEST(Resize, GivesARawImageExactlyTheSizeAskedForEvenBetweenBlocks) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kNone, 64 * kMiB);
  constexpr uint64_t kOdd = 100000001;  // not a whole number of blocks or sectors
  auto result = resizeImage(image, kOdd, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->filesystemGrown);
  EXPECT_EQ(std::filesystem::file_size(image), kOdd);
  CommandResult fsck = run({"e2fsck", "-fn", image});
  EXPECT_EQ(fsck.exitCode, 0) << fsck.out << fsck.err;
  auto header = test::ext2Header(image);
  EXPECT_EQ(std::stoull(header["Block count"]), kOdd / std::stoull(header["Block size"]));
}

TEST(Resize, ReportsTheWholeSectorsAQcow2ImageIsGiven) {
  TempDir dir;
  std::string image = dir.file("disk.qcow2");
  makeImage(dir, image, ImageFormat::kQcow2, Filesystem::kExt4, PartitionTable::kGpt, 64 * kMiB);
  auto result = resizeImage(image, 100000001, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->newSize, 100000256u);
  EXPECT_EQ(qemuImgInfo(image)["virtual-size"].u64(), result->newSize);
  CommandResult check = run({"qemu-img", "check", image});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  Placed fs =
      checkedFilesystemOf(dir, guestRaw(image, dir.file("guest.raw")), PartitionTable::kGpt);
  CommandResult fsck = run({"e2fsck", "-fn", fs.file});
  EXPECT_EQ(fsck.exitCode, 0) << fsck.out << fsck.err;
}

TEST(Resize, GrowsTheXfsPartitionAndSaysHowToGrowTheFilesystem) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kXfs, PartitionTable::kGpt, 320 * kMiB);
  auto result = resizeImage(image, 400 * kMiB, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->partitionGrown);
  EXPECT_FALSE(result->filesystemGrown);
  EXPECT_NE(result->note.find("xfs_growfs"), std::string::npos) << result->note;
  EXPECT_EQ(std::filesystem::file_size(image), 400 * kMiB);
  Placed fs = checkedFilesystemOf(dir, image, PartitionTable::kGpt);
  CommandResult repair = run({"xfs_repair", "-n", "-f", fs.file});
  EXPECT_EQ(repair.exitCode, 0) << repair.out << repair.err;
}

TEST(Resize, GrowsABtrfsImageAndSaysHowToGrowTheFilesystem) {
  TempDir dir;
  std::string image = dir.file("disk.qcow2");
  makeImage(dir, image, ImageFormat::kQcow2, Filesystem::kBtrfs, PartitionTable::kNone, 160 * kMiB);
  auto result = resizeImage(image, 256 * kMiB, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_FALSE(result->partitionGrown);
  EXPECT_FALSE(result->filesystemGrown);
  EXPECT_NE(result->note.find("btrfs filesystem resize"), std::string::npos) << result->note;
  EXPECT_EQ(qemuImgInfo(image)["virtual-size"].u64(), 256 * kMiB);
  CommandResult check =
      run({"btrfs", "check", "--readonly", guestRaw(image, dir.file("guest.raw"))});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
}

TEST(Resize, GrowsARawVfatDiskAndSaysTheFilesystemKeepsItsSize) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kVfat, PartitionTable::kNone, 64 * kMiB);
  auto result = resizeImage(image, 96 * kMiB, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_FALSE(result->filesystemGrown);
  EXPECT_NE(result->note.find("vfat"), std::string::npos) << result->note;
  EXPECT_EQ(std::filesystem::file_size(image), 96 * kMiB);
  CommandResult fsck = run({"fsck.fat", "-n", image});
  EXPECT_EQ(fsck.exitCode, 0) << fsck.out << fsck.err;
}

TEST(Resize, RemakesSwapOverTheGrownPartitionWithItsLabelAndUuid) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kSwap, PartitionTable::kGpt, 64 * kMiB);
  Placed before = checkedFilesystemOf(dir, image, PartitionTable::kGpt);
  auto old = test::parseExport(run({"blkid", "-p", "-o", "export", before.file}).out);

  auto result = resizeImage(image, 128 * kMiB, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_TRUE(result->partitionGrown);
  EXPECT_TRUE(result->filesystemGrown);
  Placed fs = checkedFilesystemOf(dir, image, PartitionTable::kGpt);
  auto now = test::parseExport(run({"blkid", "-p", "-o", "export", fs.file}).out);
  EXPECT_EQ(now["TYPE"], "swap");
  EXPECT_EQ(now["UUID"], old["UUID"]);
  EXPECT_EQ(now["LABEL"], "grow");
  // file(1) reads the header's last page: the area now spans the grown partition.
  std::string described = run({"file", "-s", fs.file}).out;
  EXPECT_NE(described.find("size " + std::to_string(fs.size / 4096 - 1) + " pages"),
            std::string::npos)
      << described;
}

TEST(Resize, RefusesToGrowAnMbrDiskPastTwoTebibytes) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kMbr, 64 * kMiB);
  std::string before = checksum(image);
  auto result = resizeImage(image, 3 * kTiB, kProbe);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("MBR"), std::string::npos) << result.status().message();
  EXPECT_EQ(std::filesystem::file_size(image), 64 * kMiB);
  EXPECT_EQ(checksum(image), before);
}

TEST(Resize, KeepsThePermissionsOfTheImage) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kGpt, 64 * kMiB);
  ASSERT_EQ(chmod(image.c_str(), 0640), 0);
  auto result = resizeImage(image, 96 * kMiB, kProbe);
  ASSERT_TRUE(result.ok()) << result.status().message();
  struct stat st;
  ASSERT_EQ(stat(image.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST(Resize, RefusesAMissingImageNamingIt) {
  TempDir dir;
  auto result = resizeImage(dir.file("missing.img"), 64 * kMiB, kProbe);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(result.status().message().find(dir.file("missing.img")), std::string::npos)
      << result.status().message();
}

TEST(Resize, RefusesAnOverlayAndLeavesIt) {
  TempDir dir;
  std::string base = dir.file("base.img"), overlay = dir.file("overlay.qcow2");
  makeImage(dir, base, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kNone, 64 * kMiB);
  CloneOptions options;
  options.source = cliOpenOptions(std::nullopt);
  options.backing = true;
  ASSERT_TRUE(cloneImage(base, overlay, options).ok());
  std::string before = checksum(overlay);
  // Probed, the backing file is refused; read as the qcow2 it is, resize says why it stops.
  auto probed = resizeImage(overlay, 128 * kMiB, kProbe);
  ASSERT_FALSE(probed.ok());
  EXPECT_NE(probed.status().message().find("--format qcow2"), std::string::npos)
      << probed.status().message();
  auto result = resizeImage(overlay, 128 * kMiB, cliOpenOptions(ImageFormat::kQcow2));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("does not rewrite overlays"), std::string::npos)
      << result.status().message();
  EXPECT_EQ(checksum(overlay), before);
}

TEST(Resize, LeavesTheImageAsItWasWhenTheFilesystemCannotBeGrown) {
  TempDir dir;
  std::string image = dir.file("disk.img");
  makeImage(dir, image, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kNone, 64 * kMiB);
  // A lost root directory: e2fsck -p stops and asks for a manual check.
  ASSERT_EQ(run({"debugfs", "-w", "-R", "clri <2>", image}).exitCode, 0);
  std::string before = checksum(image);
  auto result = resizeImage(image, 128 * kMiB, kProbe);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kFailed);
  EXPECT_NE(result.status().message().find("e2fsck"), std::string::npos)
      << result.status().message();
  EXPECT_NE(result.status().message().find(image), std::string::npos) << result.status().message();
  EXPECT_EQ(std::filesystem::file_size(image), 64 * kMiB);
  EXPECT_EQ(checksum(image), before);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"content", "disk.img"}));
}

class CancelAtOnce : public ProgressSink {
 public:
  void report(uint64_t, uint64_t) override {}
  bool cancelled() const override { return true; }
};

TEST(Resize, StopsWhenCancelledAndLeavesTheImageAsItWas) {
  TempDir dir;
  std::string image = dir.file("disk.qcow2");
  makeImage(dir, image, ImageFormat::kQcow2, Filesystem::kExt4, PartitionTable::kGpt, 64 * kMiB);
  std::string before = checksum(image);
  CancelAtOnce cancel;
  auto result = resizeImage(image, 128 * kMiB, kProbe, &cancel);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), ErrorCode::kCancelled);
  EXPECT_EQ(checksum(image), before);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"content", "disk.qcow2"}));
}

}  // namespace
}  // namespace virtscratch::image
