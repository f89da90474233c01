#include "image/clone.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "image/creator.h"
#include "image/spec.h"
#include "tests/support/filesystem_check.h"
#include "tests/support/json_value.h"
#include "tests/support/qemu_img.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

// As the CLI without --format: the source's format is probed.
CloneOptions probing() {
  CloneOptions options;
  options.source = cliOpenOptions(std::nullopt);
  return options;
}

using test::allocatedBytesOf;
using test::CommandResult;
using test::guestRaw;
using test::Json;
using test::qemuImgInfo;
using test::run;
using test::TempDir;

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kCluster = 64 * 1024;  // the qcow2 writer's cluster size
constexpr char kHello[] = "hello from the source image\n";

uint64_t sizeFor(Filesystem fs) {
  if (fs == Filesystem::kXfs) return 320 * kMiB;  // xfs needs 300 MiB
  if (fs == Filesystem::kBtrfs) return 160 * kMiB;
  return 64 * kMiB;
}

// An image made by the engine, with /hello.txt in it where the filesystem holds files.
void makeImage(const TempDir& dir, const std::string& path, ImageFormat format, Filesystem fs,
               PartitionTable table, const std::string& label = "scratch") {
  ImageSpec spec;
  spec.size = sizeFor(fs);
  spec.format = format;
  spec.filesystem = fs;
  spec.partition = table;
  spec.label = fs == Filesystem::kNone ? "" : label;
  if (fs != Filesystem::kSwap && fs != Filesystem::kNone) {
    std::string content = dir.file("content");
    std::filesystem::create_directories(content);
    test::writeFileAt(content + "/hello.txt", 0, kHello);
    spec.contentDir = content;
  }
  Status status = createImage(path, spec, {});
  ASSERT_TRUE(status.ok()) << status.message();
}

// sfdisk's view of the table; null when the disk has no partitions.
Json partitionTable(const std::string& raw) {
  CommandResult r = run({"sfdisk", "--json", raw});
  if (r.exitCode != 0) return {};
  Json table = Json::parse(r.out)["partitiontable"];
  // sfdisk reads a vfat boot sector on the whole disk as an empty MBR.
  if (!table.has("partitions") || table["partitions"].array().empty()) return {};
  return table;
}

struct FsUnderTest {
  std::string file;                          // the filesystem alone, for fsck and readers
  std::map<std::string, std::string> blkid;  // blkid -p -o export
};

// The filesystem of a raw disk: in the first partition sfdisk lists, or on the whole disk.
FsUnderTest filesystemOf(const TempDir& dir, const std::string& raw, const std::string& name) {
  FsUnderTest fs{raw, {}};
  Json table = partitionTable(raw);
  if (!table.isNull()) {
    const Json& p = table["partitions"][0];
    fs.file = dir.file(name + ".fs");
    test::extractRange(raw, p["start"].u64() * 512, p["size"].u64() * 512, fs.file);
  }
  CommandResult r = run({"blkid", "-p", "-o", "export", fs.file});
  fs.blkid = test::parseExport(r.out);
  return fs;
}

CommandResult fsck(Filesystem fs, const std::string& file) {
  return test::checkFilesystem(std::string(toString(fs)), file);
}

// /hello.txt as the filesystem's own reader tools see it (xfs has none: its listing instead).
std::string helloIn(const TempDir& dir, Filesystem fs, const std::string& file) {
  switch (fs) {
    case Filesystem::kExt2:
    case Filesystem::kExt3:
    case Filesystem::kExt4:
      return run({"debugfs", "-R", "cat /hello.txt", file}).out;
    case Filesystem::kVfat:
      return run({"mtype", "-i", file, "::hello.txt"}).out;
    case Filesystem::kBtrfs: {
      std::string out = dir.file("restored-" + std::filesystem::path(file).filename().string());
      std::filesystem::create_directories(out);
      run({"btrfs", "restore", file, out});
      return test::readFile(out + "/hello.txt");
    }
    case Filesystem::kXfs: {
      std::string listing = run({"xfs_db", "-r", "-c", "ls /", file}).out;
      return listing.find("hello.txt") != std::string::npos ? kHello : listing;
    }
    default:
      return kHello;
  }
}

// A CRC of the whole file: enough to notice a change, and quick on sparse files.
std::string checksum(const std::string& path) { return run({"cksum", path}).out; }

std::string readAt(const std::string& path, uint64_t offset, size_t length) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(length, '\0');
  in.read(out.data(), static_cast<std::streamsize>(length));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

// xfs_admin rewrites the whole log when it sets a UUID (the log's records carry it).
uint64_t xfsLogBytes(const std::string& file) {
  auto values = test::parseExport(
      run({"xfs_db", "-r", "-c", "sb 0", "-c", "p logblocks", "-c", "p blocksize", file}).out);
  auto number = [&](const char* key) { return std::stoull(values[std::string(key) + " "]); };
  return number("logblocks") * number("blocksize");
}

struct CloneCase {
  Filesystem fs;
  ImageFormat format;
  PartitionTable table;
};

std::string caseName(const testing::TestParamInfo<CloneCase>& info) {
  return std::string(toString(info.param.fs)) + "_" + std::string(toString(info.param.format)) +
         "_" + std::string(toString(info.param.table));
}

class CloneOf : public testing::TestWithParam<CloneCase> {};

TEST_P(CloneOf, GivesTheFilesystemANewUuidAndKeepsEverythingElse) {
  const CloneCase c = GetParam();
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  makeImage(dir, src, c.format, c.fs, c.table);
  std::string before = checksum(src);

  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();

  Json info = qemuImgInfo(dst);
  EXPECT_EQ(info["format"].str(), std::string(toString(c.format)));
  EXPECT_EQ(info["virtual-size"].u64(), sizeFor(c.fs));
  if (c.format == ImageFormat::kQcow2) {
    CommandResult check = run({"qemu-img", "check", dst});
    EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  }
  std::string srcRaw = guestRaw(src, dir.file("src.raw")),
              dstRaw = guestRaw(dst, dir.file("dst.raw"));
  FsUnderTest from = filesystemOf(dir, srcRaw, "src"), to = filesystemOf(dir, dstRaw, "dst");
  ASSERT_FALSE(from.blkid["UUID"].empty());
  EXPECT_NE(to.blkid["UUID"], from.blkid["UUID"]);
  EXPECT_FALSE(to.blkid["UUID"].empty());
  EXPECT_EQ(to.blkid["TYPE"], from.blkid["TYPE"]);
  EXPECT_EQ(to.blkid["LABEL"], "scratch");
  CommandResult checked = fsck(c.fs, to.file);
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
  EXPECT_EQ(helloIn(dir, c.fs, to.file), kHello);

  if (c.table != PartitionTable::kNone) {
    Json a = partitionTable(srcRaw), b = partitionTable(dstRaw);
    EXPECT_EQ(b["label"].str(), a["label"].str());
    EXPECT_NE(b["id"].str(), a["id"].str());
    EXPECT_EQ(b["partitions"][0]["start"].u64(), a["partitions"][0]["start"].u64());
    EXPECT_EQ(b["partitions"][0]["size"].u64(), a["partitions"][0]["size"].u64());
    if (c.table == PartitionTable::kGpt) {
      EXPECT_NE(b["partitions"][0]["uuid"].str(), a["partitions"][0]["uuid"].str());
    }
    CommandResult verify = run({"sfdisk", "--verify", dstRaw});
    EXPECT_EQ(verify.exitCode, 0) << verify.out << verify.err;
  }
  // Sparse: the clone occupies about what the source does, not its virtual size.
  uint64_t rewritten = c.fs == Filesystem::kXfs ? xfsLogBytes(to.file) : 0;
  EXPECT_LE(allocatedBytesOf(dst), allocatedBytesOf(src) * 11 / 10 + rewritten + 256 * 1024);
  EXPECT_EQ(checksum(src), before);
}

INSTANTIATE_TEST_SUITE_P(
    Images, CloneOf,
    testing::Values(CloneCase{Filesystem::kExt4, ImageFormat::kRaw, PartitionTable::kNone},
                    CloneCase{Filesystem::kExt4, ImageFormat::kRaw, PartitionTable::kGpt},
                    CloneCase{Filesystem::kExt2, ImageFormat::kRaw, PartitionTable::kNone},
                    CloneCase{Filesystem::kExt3, ImageFormat::kQcow2, PartitionTable::kNone},
                    CloneCase{Filesystem::kExt4, ImageFormat::kQcow2, PartitionTable::kNone},
                    CloneCase{Filesystem::kExt4, ImageFormat::kQcow2, PartitionTable::kGpt},
                    CloneCase{Filesystem::kXfs, ImageFormat::kRaw, PartitionTable::kNone},
                    CloneCase{Filesystem::kXfs, ImageFormat::kQcow2, PartitionTable::kGpt},
                    CloneCase{Filesystem::kBtrfs, ImageFormat::kRaw, PartitionTable::kGpt},
                    CloneCase{Filesystem::kBtrfs, ImageFormat::kQcow2, PartitionTable::kNone},
                    CloneCase{Filesystem::kVfat, ImageFormat::kRaw, PartitionTable::kMbr},
                    CloneCase{Filesystem::kVfat, ImageFormat::kQcow2, PartitionTable::kNone},
                    CloneCase{Filesystem::kSwap, ImageFormat::kRaw, PartitionTable::kNone},
                    CloneCase{Filesystem::kSwap, ImageFormat::kQcow2, PartitionTable::kGpt}),
    caseName);

class OverlayOf : public testing::TestWithParam<CloneCase> {};

TEST_P(OverlayOf, HoldsOnlyTheChangedClustersAndLeavesTheSourceAlone) {
  const CloneCase c = GetParam();
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("overlay.qcow2");
  makeImage(dir, src, c.format, c.fs, c.table);
  std::string before = checksum(src);

  CloneOptions options = probing();
  options.backing = true;
  Status status = cloneImage(src, dst, options);
  ASSERT_TRUE(status.ok()) << status.message();

  Json info = qemuImgInfo(dst);
  EXPECT_EQ(info["format"].str(), "qcow2");
  EXPECT_EQ(info["backing-filename"].str(), src);
  EXPECT_EQ(info["backing-filename-format"].str(), std::string(toString(c.format)));
  CommandResult check = run({"qemu-img", "check", dst});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  EXPECT_EQ(checksum(src), before);

  std::string srcRaw = guestRaw(src, dir.file("src.raw"));
  std::string dstRaw = dir.file("overlay.raw");
  CommandResult convert = run({"qemu-img", "convert", "-O", "raw", dst, dstRaw});
  ASSERT_EQ(convert.exitCode, 0) << convert.err;
  FsUnderTest from = filesystemOf(dir, srcRaw, "src"), to = filesystemOf(dir, dstRaw, "dst");

  // The overlay's own clusters are whole 64 KiB clusters, and each differs from the source.
  CommandResult map = run({"qemu-img", "map", "--output=json", dst});
  ASSERT_EQ(map.exitCode, 0) << map.err;
  uint64_t own = 0;
  Json entries = Json::parse(map.out);
  for (const Json& e : entries.array()) {
    if (e["depth"].u64() != 0 || !e["data"].boolean()) continue;
    uint64_t start = e["start"].u64(), length = e["length"].u64();
    EXPECT_EQ(start % kCluster, 0u);
    own += length;
    for (uint64_t at = start; at < start + length; at += kCluster) {
      EXPECT_TRUE(readAt(dstRaw, at, kCluster) != readAt(srcRaw, at, kCluster))
          << "the overlay stores the unchanged cluster at " << at;
    }
  }
  EXPECT_GT(own, 0u);
  // Metadata only: a few clusters, and for xfs the log it rewrites.
  uint64_t rewritten = c.fs == Filesystem::kXfs ? xfsLogBytes(to.file) : 0;
  EXPECT_LE(own, rewritten + 2 * kMiB);
  EXPECT_LE(allocatedBytesOf(dst), own + kMiB);
  EXPECT_NE(to.blkid["UUID"], from.blkid["UUID"]);
  EXPECT_EQ(to.blkid["TYPE"], from.blkid["TYPE"]);
  EXPECT_EQ(to.blkid["LABEL"], "scratch");
  CommandResult checked = fsck(c.fs, to.file);
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
  EXPECT_EQ(helloIn(dir, c.fs, to.file), kHello);
}

INSTANTIATE_TEST_SUITE_P(
    Images, OverlayOf,
    testing::Values(CloneCase{Filesystem::kExt4, ImageFormat::kRaw, PartitionTable::kGpt},
                    CloneCase{Filesystem::kExt4, ImageFormat::kQcow2, PartitionTable::kNone},
                    CloneCase{Filesystem::kSwap, ImageFormat::kRaw, PartitionTable::kNone},
                    CloneCase{Filesystem::kXfs, ImageFormat::kRaw, PartitionTable::kNone},
                    CloneCase{Filesystem::kBtrfs, ImageFormat::kQcow2, PartitionTable::kGpt},
                    CloneCase{Filesystem::kVfat, ImageFormat::kQcow2, PartitionTable::kMbr}),
    caseName);

TEST(Clone, GivesTheFilesystemTheUuidAskedFor) {
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kNone);
  CloneOptions options = probing();
  options.filesystemUuid = "3f0e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b";
  Status status = cloneImage(src, dst, options);
  ASSERT_TRUE(status.ok()) << status.message();
  auto blkid = test::parseExport(run({"blkid", "-p", "-o", "export", dst}).out);
  EXPECT_EQ(blkid["UUID"], options.filesystemUuid);
}

TEST(Clone, RefusesAUuidTheFilesystemCannotTakeAndLeavesNothing) {
  TempDir dir;
  std::string src = dir.file("src.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kVfat, PartitionTable::kNone);
  CloneOptions options = probing();
  options.filesystemUuid = "3f0e2c1a-5b6d-4e7f-8a9b-0c1d2e3f4a5b";  // vfat takes XXXX-XXXX
  Status status = cloneImage(src, dir.file("dst.img"), options);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find(options.filesystemUuid), std::string::npos) << status.message();
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"content", "src.img"}));
}

// The checksum seed stays in the superblock: the clone's checksums are the source's, valid
// under the new UUID, so nothing but the superblock was rewritten.
TEST(Clone, RenewsTheUuidOfExt4WithoutRewritingItsChecksums) {
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kNone);
  auto from = test::ext2Header(src);
  ASSERT_NE(from["Filesystem features"].find("metadata_csum_seed"), std::string::npos)
      << from["Filesystem features"];
  ASSERT_FALSE(from["Checksum seed"].empty());
  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();
  auto to = test::ext2Header(dst);
  EXPECT_NE(to["Filesystem UUID"], from["Filesystem UUID"]);
  EXPECT_EQ(to["Checksum seed"], from["Checksum seed"]);
  CommandResult checked = run({"e2fsck", "-fn", dst});
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
}

// dumpe2fs's "Filesystem UUID" of the superblock at `block` (0: the primary).
std::string extUuid(const std::string& image, uint64_t block = 0) {
  std::vector<std::string> argv = {"dumpe2fs", "-h"};
  if (block != 0) {
    argv.insert(argv.end(), {"-o", "superblock=" + std::to_string(block), "-o", "blocksize=4096"});
  }
  argv.push_back(image);
  std::istringstream in(run(argv).out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Filesystem UUID:", 0) == 0) return line.substr(line.find_last_of(' ') + 1);
  }
  return {};
}

// Clones a 1 GiB qcow2 + ext4 image made by the engine with `table` (src.qcow2 to dst.qcow2 in
// `dir`) and counts the bytes in which the two files differ.
size_t cloneQcow2Ext4AndCountChangedBytes(const TempDir& dir, PartitionTable table) {
  std::string src = dir.file("src.qcow2"), dst = dir.file("dst.qcow2");
  ImageSpec spec;
  spec.size = 1024 * kMiB;  // eight block groups: backups in groups 1, 3, 5 and 7
  spec.format = ImageFormat::kQcow2;
  spec.filesystem = Filesystem::kExt4;
  spec.partition = table;
  Status made = createImage(src, spec, {});
  EXPECT_TRUE(made.ok()) << made.message();
  Status status = cloneImage(src, dst, probing());
  EXPECT_TRUE(status.ok()) << status.message();
  std::string a = test::readFile(src), b = test::readFile(dst);
  EXPECT_EQ(a.size(), b.size());
  size_t differing = a.size() > b.size() ? a.size() - b.size() : b.size() - a.size();
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) differing += a[i] != b[i];
  return differing;
}

// A template's clone is its file with the superblocks' UUID and checksum rewritten where they
// lie: nothing else in the file differs, and every backup superblock names the new UUID as the
// primary does (as tune2fs leaves them).
TEST(Clone, RewritesOnlyTheSuperblocksOfAQcow2Ext4) {
  TempDir dir;
  std::string src = dir.file("src.qcow2"), dst = dir.file("dst.qcow2");
  size_t differing = cloneQcow2Ext4AndCountChangedBytes(dir, PartitionTable::kNone);
  EXPECT_GT(differing, 0u);
  EXPECT_LE(differing, 5u * 20u) << "five superblocks, each a 16-byte UUID and a 4-byte checksum";
  CommandResult check = run({"qemu-img", "check", dst});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;

  std::string srcRaw = guestRaw(src, dir.file("src.raw")),
              dstRaw = guestRaw(dst, dir.file("dst.raw"));
  std::string uuid = extUuid(dstRaw);
  ASSERT_FALSE(uuid.empty());
  EXPECT_NE(uuid, extUuid(srcRaw));
  for (uint64_t group : {1, 3, 5, 7}) EXPECT_EQ(extUuid(dstRaw, group * 32768), uuid) << group;
  CommandResult checked = run({"e2fsck", "-fn", dstRaw});
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
}

// A GPT gets its new disk GUID and partition GUID where they lie, in both headers and both entry
// arrays with their CRCs: in a qcow2 image's file nothing else changes but the superblocks.
TEST(Clone, RewritesOnlyTheIdentifiersOfAGptDiskInPlace) {
  TempDir dir;
  std::string src = dir.file("src.qcow2"), dst = dir.file("dst.qcow2");
  size_t differing = cloneQcow2Ext4AndCountChangedBytes(dir, PartitionTable::kGpt);
  // Two 92-byte headers, a 16-byte GUID in each entry array, and the superblocks' UUIDs and
  // checksums (fewer than eight superblocks in the partition's 1023 MiB).
  EXPECT_GT(differing, 0u);
  EXPECT_LE(differing, 2u * 92u + 2u * 16u + 8u * 20u);

  std::string srcRaw = guestRaw(src, dir.file("src.raw")),
              dstRaw = guestRaw(dst, dir.file("dst.raw"));
  CommandResult verify = run({"sfdisk", "--verify", dstRaw});
  EXPECT_EQ(verify.exitCode, 0) << verify.out << verify.err;
  Json from = partitionTable(srcRaw), to = partitionTable(dstRaw);
  EXPECT_NE(to["id"].str(), from["id"].str());
  EXPECT_NE(to["partitions"][0]["uuid"].str(), from["partitions"][0]["uuid"].str());
  FsUnderTest fs = filesystemOf(dir, dstRaw, "dst");
  CommandResult checked = run({"e2fsck", "-fn", fs.file});
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
}

// A GPT whose backup header is gone is not rewritten in place: libfdisk renews it from the
// primary and writes both copies again.
TEST(Clone, RenewsAGptWithADamagedBackupHeaderWithLibfdisk) {
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kGpt);
  test::writeFileAt(src, sizeFor(Filesystem::kExt4) - 512, std::string(512, '\0'));
  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();
  CommandResult verify = run({"sfdisk", "--verify", dst});
  EXPECT_EQ(verify.exitCode, 0) << verify.out << verify.err;
  EXPECT_EQ(readAt(dst, sizeFor(Filesystem::kExt4) - 512, 8), "EFI PART");
  EXPECT_NE(partitionTable(dst)["id"].str(), partitionTable(src)["id"].str());
}

// A copy of the file would carry the source's internal snapshots (and in them its old UUID):
// the clone is made from the guest's bytes and has none.
TEST(Clone, LeavesTheSourcesInternalSnapshotsBehind) {
  TempDir dir;
  std::string src = dir.file("src.qcow2"), dst = dir.file("dst.qcow2");
  makeImage(dir, src, ImageFormat::kQcow2, Filesystem::kExt4, PartitionTable::kNone);
  ASSERT_EQ(run({"qemu-img", "snapshot", "-c", "before", src}).exitCode, 0);
  ASSERT_TRUE(qemuImgInfo(src).has("snapshots"));
  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_FALSE(qemuImgInfo(dst).has("snapshots")) << run({"qemu-img", "info", dst}).out;
  CommandResult check = run({"qemu-img", "check", dst});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  std::string srcRaw = guestRaw(src, dir.file("src.raw")),
              dstRaw = guestRaw(dst, dir.file("dst.raw"));
  EXPECT_NE(extUuid(dstRaw), extUuid(srcRaw));
  CommandResult checked = run({"e2fsck", "-fn", dstRaw});
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
}

// Compressed clusters are not stored as the guest's bytes: the clone reads the guest's bytes and
// writes a new image instead.
TEST(Clone, RenewsACompressedQcow2ThroughItsGuestBytes) {
  TempDir dir;
  std::string raw = dir.file("src.raw"), src = dir.file("src.qcow2"), dst = dir.file("dst.qcow2");
  makeImage(dir, raw, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kNone);
  ASSERT_EQ(run({"qemu-img", "convert", "-c", "-O", "qcow2", raw, src}).exitCode, 0);
  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();
  CommandResult check = run({"qemu-img", "check", dst});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  std::string dstRaw = guestRaw(dst, dir.file("dst.raw"));
  EXPECT_NE(extUuid(dstRaw), extUuid(raw));
  EXPECT_FALSE(extUuid(dstRaw).empty());
  CommandResult checked = run({"e2fsck", "-fn", dstRaw});
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
  EXPECT_EQ(run({"debugfs", "-R", "cat /hello.txt", dstRaw}).out, kHello);
}

// A template an older version made has no checksum seed: tune2fs rewrites every checksum, and
// asks for a check first when a guest mounted the filesystem since the last one.
TEST(Clone, RenewsTheUuidOfAnExtFilesystemMountedSinceItsLastCheck) {
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kExt4, PartitionTable::kNone);
  ASSERT_EQ(run({"tune2fs", "-O", "^metadata_csum_seed", src}).exitCode, 0);
  // As a guest leaves it: mounted after the last check, so tune2fs -U asks for e2fsck first.
  ASSERT_EQ(run({"debugfs", "-w", "-R", "ssv lastcheck 20200101", src}).exitCode, 0);
  ASSERT_EQ(run({"debugfs", "-w", "-R", "ssv mtime 20210101", src}).exitCode, 0);
  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();
  auto from = test::parseExport(run({"blkid", "-p", "-o", "export", src}).out);
  auto to = test::parseExport(run({"blkid", "-p", "-o", "export", dst}).out);
  EXPECT_NE(to["UUID"], from["UUID"]);
  CommandResult checked = run({"e2fsck", "-fn", dst});
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
  EXPECT_EQ(run({"debugfs", "-R", "cat /hello.txt", dst}).out, kHello);
}

TEST(Clone, RenewsTheVolumeIdOfFat32AndItsBackupBootSector) {
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  test::makeSparseFile(src, 64 * kMiB);
  ASSERT_EQ(run({"mkfs.fat", "-F", "32", "-n", "SCRATCH", src}).exitCode, 0);
  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();
  auto from = test::parseExport(run({"blkid", "-p", "-o", "export", src}).out);
  auto to = test::parseExport(run({"blkid", "-p", "-o", "export", dst}).out);
  EXPECT_NE(to["UUID"], from["UUID"]);
  EXPECT_EQ(to["LABEL"], "SCRATCH");
  CommandResult checked = run({"fsck.fat", "-n", dst});
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
  EXPECT_EQ(checked.out.find("differences between boot sector and its backup"), std::string::npos)
      << checked.out;
}

TEST(Clone, CopiesAnImageWithoutAFilesystem) {
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kNone, PartitionTable::kGpt);
  Status status = cloneImage(src, dst, probing());
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(partitionTable(dst)["partitions"][0]["start"].u64(),
            partitionTable(src)["partitions"][0]["start"].u64());
  EXPECT_EQ(run({"sfdisk", "--verify", dst}).exitCode, 0);
}

TEST(Clone, RefusesAMissingSourceNamingIt) {
  TempDir dir;
  std::string src = dir.file("missing.img");
  Status status = cloneImage(src, dir.file("dst.img"), probing());
  EXPECT_EQ(status.code(), ErrorCode::kNotFound);
  EXPECT_NE(status.message().find(src), std::string::npos) << status.message();
  EXPECT_TRUE(dir.entries().empty());
}

TEST(Clone, RefusesADirectoryAsSource) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("folder"));
  Status status = cloneImage(dir.file("folder"), dir.file("dst.img"), probing());
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find(dir.file("folder")), std::string::npos) << status.message();
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"folder"}));
}

TEST(Clone, RefusesAFilesystemItCannotRenewAndLeavesNothing) {
  TempDir dir;
  std::string src = dir.file("minix.img");
  test::makeSparseFile(src, 8 * kMiB);
  ASSERT_EQ(run({"mkfs.minix", src}).exitCode, 0);
  Status status = cloneImage(src, dir.file("dst.img"), probing());
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("minix"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find(src), std::string::npos) << status.message();
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"minix.img"}));
}

TEST(Clone, KeepsAnExistingDestinationUnlessForced) {
  TempDir dir;
  std::string src = dir.file("src.img"), dst = dir.file("dst.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kSwap, PartitionTable::kNone);
  test::writeFileAt(dst, 0, "keep me");

  Status status = cloneImage(src, dst, probing());
  EXPECT_EQ(status.code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(status.message().find("dst.img"), std::string::npos) << status.message();
  EXPECT_EQ(test::readFile(dst), "keep me");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"dst.img", "src.img"}));

  CloneOptions options = probing();
  options.force = true;
  status = cloneImage(src, dst, options);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(test::parseExport(run({"blkid", "-p", "-o", "export", dst}).out)["TYPE"], "swap");
}

TEST(Clone, RefusesToReplaceItsOwnSource) {
  TempDir dir;
  std::string src = dir.file("src.img");
  makeImage(dir, src, ImageFormat::kRaw, Filesystem::kSwap, PartitionTable::kNone);
  std::string before = checksum(src);
  CloneOptions options = probing();
  options.force = true;
  Status status = cloneImage(src, src, options);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(checksum(src), before);
}

class CancelAtOnce : public ProgressSink {
 public:
  void report(uint64_t, uint64_t) override {}
  bool cancelled() const override { return true; }
};

TEST(Clone, StopsWhenCancelledAndLeavesNothing) {
  TempDir dir;
  std::string src = dir.file("src.img");
  makeImage(dir, src, ImageFormat::kQcow2, Filesystem::kExt4, PartitionTable::kNone);
  CancelAtOnce cancel;
  CloneOptions options = probing();
  options.progress = &cancel;
  Status status = cloneImage(src, dir.file("dst.img"), options);
  EXPECT_EQ(status.code(), ErrorCode::kCancelled);
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"content", "src.img"}));
}

}  // namespace
}  // namespace virtscratch::image
