#include "image/filesystem.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "image/size.h"
#include "tests/support/filesystem_check.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

using test::TempDir;

constexpr const char* kUuid = "3f1c2b9a-5d4e-4f60-8a7b-9c0d1e2f3a4b";
constexpr time_t kMtime = 981173106;  // 2001-02-03 04:05:06 UTC

std::string blkid(const std::string& path, const std::string& tag) {
  std::string value = test::run({"blkid", "-p", "-s", tag, "-o", "value", path}).out;
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

MkfsRequest requestFor(Filesystem fs, const TempDir& dir, uint64_t size) {
  MkfsRequest r;
  r.filesystem = fs;
  r.devicePath = dir.file("fs.img");
  r.size = size;
  r.scratchDir = dir.path();
  test::makeSparseFile(r.devicePath, size);
  return r;
}

// The checker users trust for each filesystem, read-only. Exit code 0 means clean.
int fsck(Filesystem fs, const std::string& path) {
  switch (fs) {
    case Filesystem::kExt2:
    case Filesystem::kExt3:
    case Filesystem::kExt4:
      return test::run({"e2fsck", "-fn", path}).exitCode;
    case Filesystem::kXfs:
      return test::run({"xfs_repair", "-n", path}).exitCode;
    case Filesystem::kBtrfs:
      return test::run({"btrfs", "check", "--readonly", path}).exitCode;
    case Filesystem::kVfat:
      return test::run({"fsck.fat", "-n", path}).exitCode;
    default:
      return 0;
  }
}

void setMtime(const std::string& path) {
  timespec times[2] = {{kMtime, 0}, {kMtime, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
}

// content/: sub/deep/f.txt ("hello"), exec.sh (0750, kMtime), link -> sub/deep/f.txt, empty,
// and "with space.txt" unless the filesystem cannot take such names.
std::string makeContent(const TempDir& dir, bool withSpaceName) {
  std::string root = dir.file("content");
  mkdir(root.c_str(), 0755);
  mkdir((root + "/sub").c_str(), 0755);
  mkdir((root + "/sub/deep").c_str(), 0755);
  test::writeFileAt(root + "/sub/deep/f.txt", 0, "hello\n");
  test::writeFileAt(root + "/exec.sh", 0, "#!/bin/sh\necho run\n");
  chmod((root + "/exec.sh").c_str(), 0750);
  setMtime(root + "/exec.sh");
  test::writeFileAt(root + "/empty", 0, "");
  if (withSpaceName) test::writeFileAt(root + "/with space.txt", 0, "spaced\n");
  return root;
}

void addSymlink(const std::string& root) {
  EXPECT_EQ(symlink("sub/deep/f.txt", (root + "/link").c_str()), 0);
}

std::string hexTime(time_t t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%08llx", static_cast<unsigned long long>(t));
  return buf;
}

std::string debugfs(const std::string& image, const std::string& request) {
  return test::run({"debugfs", "-R", request, image}).out;
}

std::string xfsDb(const std::string& image, const std::vector<std::string>& commands) {
  std::vector<std::string> argv = {"xfs_db", "-r"};
  for (const auto& c : commands) argv.insert(argv.end(), {"-c", c});
  argv.push_back(image);
  return test::run(argv).out;
}

void expectInvalid(const Status& status, const std::vector<std::string>& parts) {
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument) << status.message();
  for (const auto& part : parts) {
    EXPECT_NE(status.message().find(part), std::string::npos)
        << "'" << part << "' missing from: " << status.message();
  }
}

TEST(FilesystemLabel, AcceptsLabelsUpToEachFilesystemsLimitAndNoFurther) {
  const std::pair<Filesystem, size_t> limits[] = {{Filesystem::kExt2, 16},  {Filesystem::kExt3, 16},
                                                  {Filesystem::kExt4, 16},  {Filesystem::kXfs, 12},
                                                  {Filesystem::kVfat, 11},  {Filesystem::kSwap, 15},
                                                  {Filesystem::kBtrfs, 255}};
  for (auto [fs, limit] : limits) {
    EXPECT_TRUE(validateLabel(fs, std::string(limit, 'A')).ok()) << toString(fs);
    std::string tooLong(limit + 1, 'A');
    expectInvalid(
        validateLabel(fs, tooLong),
        {"'" + tooLong + "'", std::to_string(limit) + " bytes", std::string(toString(fs))});
  }
  // Bytes, not characters: eight two-byte letters are 16 bytes.
  EXPECT_TRUE(validateLabel(Filesystem::kExt4, "üüüüüüüü").ok());
  expectInvalid(validateLabel(Filesystem::kXfs, "üüüüüüü"), {"14 bytes", "12"});
}

TEST(FilesystemLabel, RejectsControlCharactersAndInvalidUtf8) {
  expectInvalid(validateLabel(Filesystem::kExt4, "a\nb"), {"'a\\x0ab'", "control"});
  expectInvalid(validateLabel(Filesystem::kExt4, "a\x7f"), {"control"});
  expectInvalid(validateLabel(Filesystem::kExt4, "a\xc2\x85"), {"control"});
  expectInvalid(validateLabel(Filesystem::kBtrfs, "bad\xff"), {"'bad\\xff'", "UTF-8"});
  expectInvalid(validateLabel(Filesystem::kBtrfs, "\xc0\xaf"), {"UTF-8"});      // overlong
  expectInvalid(validateLabel(Filesystem::kBtrfs, "\xed\xa0\x80"), {"UTF-8"});  // surrogate
  expectInvalid(validateLabel(Filesystem::kBtrfs, "\xe2\x82"), {"UTF-8"});      // cut short
  EXPECT_TRUE(validateLabel(Filesystem::kBtrfs, "Daten \xe2\x82\xac ok").ok());
}

TEST(FilesystemLabel, RejectsEveryLabelWithoutAFilesystemButAcceptsNone) {
  expectInvalid(validateLabel(Filesystem::kNone, "data"), {"'data'", "none"});
  EXPECT_TRUE(validateLabel(Filesystem::kNone, "").ok());
}

TEST(FilesystemLabel, RejectsVfatLabelsThatMkfsFatWouldRefuseOrChange) {
  expectInvalid(validateLabel(Filesystem::kVfat, "A/B"), {"'A/B'", "'/'"});
  expectInvalid(validateLabel(Filesystem::kVfat, "A.B"), {"'A.B'", "'.'"});
  expectInvalid(validateLabel(Filesystem::kVfat, " LEAD"), {"' LEAD'", "space"});
  expectInvalid(validateLabel(Filesystem::kVfat, "TRAIL "), {"'TRAIL '", "space"});
  expectInvalid(validateLabel(Filesystem::kVfat, "NO NAME"), {"NO NAME"});
  expectInvalid(validateLabel(Filesystem::kVfat, "\xc3\x84RGER"), {"ASCII"});
  EXPECT_TRUE(validateLabel(Filesystem::kVfat, "MY DISK-1_2").ok());
  // Spaces and slashes are fine elsewhere (checked with mkfs.xfs, mke2fs).
  EXPECT_TRUE(validateLabel(Filesystem::kXfs, "a b/c").ok());
}

TEST(FilesystemUuid, AcceptsRfc4122UuidsAndVfatVolumeIds) {
  for (Filesystem fs :
       {Filesystem::kExt4, Filesystem::kXfs, Filesystem::kBtrfs, Filesystem::kSwap}) {
    EXPECT_TRUE(validateUuid(fs, kUuid).ok());
    EXPECT_TRUE(validateUuid(fs, "3F1C2B9A-5D4E-4F60-8A7B-9C0D1E2F3A4B").ok());
    EXPECT_TRUE(validateUuid(fs, "").ok());
  }
  EXPECT_TRUE(validateUuid(Filesystem::kVfat, "1A2B-3c4d").ok());
}

TEST(FilesystemUuid, RejectsMalformedValuesNamingThem) {
  expectInvalid(validateUuid(Filesystem::kExt4, "1234"), {"'1234'", "RFC 4122"});
  expectInvalid(validateUuid(Filesystem::kExt4, "3f1c2b9a5d4e-4f60-8a7b-9c0d1e2f3a4b0"),
                {"RFC 4122"});
  expectInvalid(validateUuid(Filesystem::kXfs, "3f1c2b9a-5d4e-4f60-8a7b-9c0d1e2f3a4g"), {"3a4g'"});
  expectInvalid(validateUuid(Filesystem::kBtrfs, "1A2B-3C4D"), {"'1A2B-3C4D'", "btrfs"});
  expectInvalid(validateUuid(Filesystem::kVfat, kUuid), {kUuid, "XXXX-XXXX"});
  expectInvalid(validateUuid(Filesystem::kVfat, "1A2B3C4D"), {"'1A2B3C4D'", "XXXX-XXXX"});
  expectInvalid(validateUuid(Filesystem::kExt4, "00000000-0000-0000-0000-000000000000"), {"nil"});
  expectInvalid(validateUuid(Filesystem::kNone, kUuid), {kUuid, "none"});
}

struct FsCase {
  Filesystem fs;
  uint64_t size;
  std::string label;
  std::string uuid;
};

class MakeEachFilesystem : public ::testing::TestWithParam<FsCase> {};

TEST_P(MakeEachFilesystem, WithTheLabelAndUuidThatBlkidAndFsckSee) {
  const FsCase& c = GetParam();
  TempDir dir;
  MkfsRequest r = requestFor(c.fs, dir, c.size);
  r.label = c.label;
  r.uuid = c.uuid;
  Status status = makeFilesystem(r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(blkid(r.devicePath, "TYPE"), toString(c.fs));
  EXPECT_EQ(blkid(r.devicePath, "LABEL"), c.label);
  EXPECT_EQ(blkid(r.devicePath, "UUID"), c.uuid);
  EXPECT_EQ(fsck(c.fs, r.devicePath), 0);
  struct stat st {};
  ASSERT_EQ(stat(r.devicePath.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), c.size);
}

INSTANTIATE_TEST_SUITE_P(
    Filesystems, MakeEachFilesystem,
    ::testing::Values(FsCase{Filesystem::kExt2, 8 * kMiB, "ext2-label", kUuid},
                      FsCase{Filesystem::kExt3, 8 * kMiB, "sixteen-bytes-ok", kUuid},
                      FsCase{Filesystem::kExt4, 64 * kMiB, "Daten \xc3\xbc", kUuid},
                      FsCase{Filesystem::kXfs, 300 * kMiB, "twelve bytes", kUuid},
                      FsCase{Filesystem::kBtrfs, 128 * kMiB, std::string(200, 'b'), kUuid},
                      FsCase{Filesystem::kVfat, 16 * kMiB, "ELEVEN BYTE", "1A2B-3C4D"},
                      FsCase{Filesystem::kSwap, 4 * kMiB, "fifteen-bytes-x", kUuid}),
    [](const ::testing::TestParamInfo<FsCase>& p) { return std::string(toString(p.param.fs)); });

TEST(MakeFilesystem, LetsTheToolChooseARandomUuidWhenNoneIsGiven) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kExt4, dir, 8 * kMiB);
  ASSERT_TRUE(makeFilesystem(r).ok());
  EXPECT_EQ(blkid(r.devicePath, "UUID").size(), 36u);
  EXPECT_EQ(blkid(r.devicePath, "LABEL"), "");
}

TEST(MakeFilesystem, SucceedsAtEachMinimumSizeAndRefusesOneSectorLess) {
  for (Filesystem fs : {Filesystem::kExt2, Filesystem::kExt3, Filesystem::kExt4, Filesystem::kXfs,
                        Filesystem::kBtrfs, Filesystem::kVfat, Filesystem::kSwap}) {
    TempDir dir;
    uint64_t minimum = minimumFilesystemSize(fs);
    MkfsRequest r = requestFor(fs, dir, minimum);
    Status status = makeFilesystem(r);
    ASSERT_TRUE(status.ok()) << toString(fs) << ": " << status.message();
    // For ext3/ext4 this also shows that the journal is there (without it blkid says ext2).
    EXPECT_EQ(blkid(r.devicePath, "TYPE"), toString(fs));
    r.size = minimum - 512;
    expectInvalid(makeFilesystem(r), {std::to_string(minimum - 512) + " bytes",
                                      std::string(toString(fs)), formatSize(minimum)});
  }
  EXPECT_EQ(minimumFilesystemSize(Filesystem::kXfs), 300 * kMiB);
}

TEST(MakeFilesystem, DoesNothingForNone) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kNone, dir, 8 * kMiB);
  ASSERT_TRUE(makeFilesystem(r).ok());
  EXPECT_EQ(test::allocatedBytesOf(r.devicePath), 0u);
  r.label = "x";
  expectInvalid(makeFilesystem(r), {"'x'", "none"});
}

TEST(MakeFilesystem, WorksThroughTheProcPathOfAnUnnamedFile) {
  for (Filesystem fs : {Filesystem::kExt4, Filesystem::kXfs, Filesystem::kBtrfs, Filesystem::kVfat,
                        Filesystem::kSwap}) {
    TempDir dir;
    UniqueFd fd(open(dir.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    ASSERT_TRUE(fd.valid());
    MkfsRequest r;
    r.filesystem = fs;
    r.size = std::max<uint64_t>(minimumFilesystemSize(fs), 256 * kMiB);
    ASSERT_EQ(ftruncate(fd.get(), static_cast<off_t>(r.size)), 0);
    r.devicePath = procPathOf(fd.get());
    r.scratchDir = dir.path();
    if (fs != Filesystem::kSwap) r.contentDir = makeContent(dir, fs != Filesystem::kXfs);
    Status status = makeFilesystem(r);
    ASSERT_TRUE(status.ok()) << toString(fs) << ": " << status.message();
    EXPECT_EQ(blkid(r.devicePath, "TYPE"), toString(fs));
    EXPECT_EQ(fsck(fs, r.devicePath), 0) << toString(fs);
    // Nothing is left behind in the scratch directory (the xfs protofile is gone).
    EXPECT_EQ(dir.entries(), fs == Filesystem::kSwap ? std::vector<std::string>{}
                                                     : std::vector<std::string>{"content"});
  }
}

TEST(MakeFilesystem, MarksExt4InodeTablesZeroedSoTheGuestDoesNotWriteThem) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kExt4, dir, 4 * kGiB);
  ASSERT_TRUE(makeFilesystem(r).ok());
  std::string groups = test::run({"dumpe2fs", r.devicePath}).out;
  size_t zeroed = 0;
  for (size_t at = groups.find("ITABLE_ZEROED"); at != std::string::npos;
       at = groups.find("ITABLE_ZEROED", at + 1)) {
    ++zeroed;
  }
  EXPECT_EQ(zeroed, 32u);  // every one of the 32 groups of 128 MiB
  EXPECT_LT(test::allocatedBytesOf(r.devicePath), 80 * kMiB);
}

TEST(MakeFilesystem, KeepsExt4GroupDescriptorsInMetaGroupsSoA1TiBHoldsUnder3MiB) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kExt4, dir, 1024 * kGiB);
  ASSERT_TRUE(makeFilesystem(r).ok());
  auto header = test::ext2Header(r.devicePath);
  std::string features = " " + header["Filesystem features"] + " ";
  EXPECT_NE(features.find(" meta_bg "), std::string::npos) << features;
  EXPECT_EQ(features.find("resize_inode"), std::string::npos) << features;
  EXPECT_NE(features.find(" metadata_csum_seed "), std::string::npos) << features;
  EXPECT_EQ(header["Flex block group size"], "64");
  // With a descriptor block in every group that has a backup superblock, resize_inode's
  // reserved blocks and flex groups of 16, a new 1 TiB ext4 holds 16 MiB: what every clone of it
  // copies.
  EXPECT_LT(test::allocatedBytesOf(r.devicePath), 3 * kMiB);
  EXPECT_EQ(fsck(Filesystem::kExt4, r.devicePath), 0);
}

TEST(FilesystemContent, FillsExt4KeepingModesTimesAndSymlinks) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kExt4, dir, 16 * kMiB);
  r.contentDir = makeContent(dir, true);
  addSymlink(r.contentDir);
  Status status = makeFilesystem(r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(fsck(r.filesystem, r.devicePath), 0);
  EXPECT_EQ(debugfs(r.devicePath, "cat /sub/deep/f.txt"), "hello\n");
  EXPECT_EQ(debugfs(r.devicePath, "cat \"/with space.txt\""), "spaced\n");
  std::string exec = debugfs(r.devicePath, "stat /exec.sh");
  EXPECT_NE(exec.find("Mode:  0750"), std::string::npos) << exec;
  EXPECT_NE(exec.find("mtime: " + hexTime(kMtime)), std::string::npos) << exec;
  EXPECT_NE(debugfs(r.devicePath, "stat /link").find("Fast link dest: \"sub/deep/f.txt\""),
            std::string::npos);
  EXPECT_NE(debugfs(r.devicePath, "stat /empty").find("Size: 0"), std::string::npos);
}

TEST(FilesystemContent, FillsBtrfsKeepingModesTimesAndSymlinks) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kBtrfs, dir, 256 * kMiB);
  r.contentDir = makeContent(dir, true);
  addSymlink(r.contentDir);
  Status status = makeFilesystem(r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(fsck(r.filesystem, r.devicePath), 0);
  std::string out = dir.file("restored");
  mkdir(out.c_str(), 0700);
  ASSERT_EQ(test::run({"btrfs", "restore", "-m", "-S", r.devicePath, out}).exitCode, 0);
  EXPECT_EQ(test::readFile(out + "/sub/deep/f.txt"), "hello\n");
  EXPECT_EQ(test::readFile(out + "/with space.txt"), "spaced\n");
  EXPECT_EQ(test::readFile(out + "/empty"), "");
  struct stat st {};
  ASSERT_EQ(stat((out + "/exec.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(st.st_mtime, kMtime);
  char target[64] = {};
  EXPECT_GT(readlink((out + "/link").c_str(), target, sizeof target - 1), 0);
  EXPECT_STREQ(target, "sub/deep/f.txt");
}

TEST(FilesystemContent, FillsXfsFromAProtofileKeepingModesSymlinksAndTheStickyBit) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kXfs, dir, 300 * kMiB);
  r.contentDir = makeContent(dir, false);
  addSymlink(r.contentDir);
  std::string sticky = r.contentDir + "/sub/tmp";
  mkdir(sticky.c_str(), 0755);
  chmod(sticky.c_str(), 01777);
  mkfifo((r.contentDir + "/fifo").c_str(), 0640);
  Status status = makeFilesystem(r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(fsck(r.filesystem, r.devicePath), 0);
  std::string root = xfsDb(r.devicePath, {"ls /"});
  for (const char* name : {" sub ", " exec.sh ", " link ", " empty ", " fifo "}) {
    EXPECT_NE(root.find(name), std::string::npos) << name << " not in " << root;
  }
  EXPECT_NE(xfsDb(r.devicePath, {"path /exec.sh", "print core.mode"}).find("core.mode = 0100750"),
            std::string::npos);
  EXPECT_NE(xfsDb(r.devicePath, {"path /sub/tmp", "print core.mode"}).find("core.mode = 041777"),
            std::string::npos);
  EXPECT_NE(xfsDb(r.devicePath, {"path /fifo", "print core.mode"}).find("core.mode = 010640"),
            std::string::npos);
  EXPECT_NE(
      xfsDb(r.devicePath, {"path /sub/deep/f.txt", "dblock 0", "type text", "print"}).find("hello"),
      std::string::npos);
  EXPECT_NE(xfsDb(r.devicePath, {"path /link", "print"}).find("\"sub/deep/f.txt\""),
            std::string::npos);
  EXPECT_NE(xfsDb(r.devicePath, {"path /empty", "print core.size"}).find("core.size = 0"),
            std::string::npos);
}

TEST(FilesystemContent, FillsVfatWithMtoolsKeepingFileTimes) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kVfat, dir, 16 * kMiB);
  r.contentDir = makeContent(dir, true);
  Status status = makeFilesystem(r);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(fsck(r.filesystem, r.devicePath), 0);
  EXPECT_EQ(test::run({"mtype", "-i", r.devicePath, "::/sub/deep/f.txt"}).out, "hello\n");
  EXPECT_EQ(test::run({"mtype", "-i", r.devicePath, "::/with space.txt"}).out, "spaced\n");
  std::string listing = test::run({"mdir", "-i", r.devicePath, "::/"}).out;
  EXPECT_NE(listing.find("empty"), std::string::npos) << listing;
  // FAT keeps local time; mdir shows it back in local time.
  char date[16];
  tm local{};
  localtime_r(&kMtime, &local);
  std::strftime(date, sizeof date, "%Y-%m-%d", &local);
  size_t exec = listing.find("exec     sh");
  ASSERT_NE(exec, std::string::npos) << listing;
  EXPECT_NE(listing.substr(exec, listing.find('\n', exec) - exec).find(date), std::string::npos)
      << listing;
}

TEST(FilesystemContent, RefusesContentThatIsMissingOrNotADirectory) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kExt4, dir, 8 * kMiB);
  r.contentDir = dir.file("missing");
  expectInvalid(makeFilesystem(r), {"'" + r.contentDir + "'", "does not exist"});
  r.contentDir = dir.file("fs.img");
  expectInvalid(makeFilesystem(r), {"'" + r.contentDir + "'", "not a directory"});
  r.filesystem = Filesystem::kSwap;
  r.contentDir = dir.path();
  expectInvalid(makeFilesystem(r), {"swap"});
}

TEST(FilesystemContent, RefusesWhatTheXfsProtofileCannotExpress) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kXfs, dir, 300 * kMiB);
  r.contentDir = makeContent(dir, false);
  test::writeFileAt(r.contentDir + "/sub/two words", 0, "x");
  expectInvalid(makeFilesystem(r), {"'sub/two words'", "whitespace", "ext4"});
  unlink((r.contentDir + "/sub/two words").c_str());
  test::writeFileAt(r.contentDir + "/:comment", 0, "x");
  expectInvalid(makeFilesystem(r), {"':comment'"});
  unlink((r.contentDir + "/:comment").c_str());
  std::string socketPath = r.contentDir + "/sock";
  UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(socketPath.size(), sizeof addr.sun_path);
  socketPath.copy(addr.sun_path, socketPath.size());
  ASSERT_EQ(bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  expectInvalid(makeFilesystem(r), {"socket 'sock'"});
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"content", "fs.img"}));
}

TEST(FilesystemContent, RefusesWhatVfatCannotStoreNamingTheFile) {
  TempDir dir;
  MkfsRequest r = requestFor(Filesystem::kVfat, dir, 16 * kMiB);
  r.contentDir = makeContent(dir, true);
  addSymlink(r.contentDir);
  expectInvalid(makeFilesystem(r), {"vfat cannot store the symlink 'link'", "ext4"});
  unlink((r.contentDir + "/link").c_str());
  test::writeFileAt(r.contentDir + "/sub/deep/F.TXT", 0, "x");
  expectInvalid(makeFilesystem(r), {"'sub/deep/f.txt'", "'sub/deep/F.TXT'", "case"});
  unlink((r.contentDir + "/sub/deep/F.TXT").c_str());
  for (const char* name : {"a:b", "what?", "dot.", "CON", "caf\xc3\xa9"}) {
    std::string path = r.contentDir + "/sub/" + name;
    test::writeFileAt(path, 0, "x");
    Status status = makeFilesystem(r);
    expectInvalid(status, {"sub/"});
    unlink(path.c_str());
  }
  mkfifo((r.contentDir + "/fifo").c_str(), 0600);
  expectInvalid(makeFilesystem(r), {"fifo 'fifo'"});
  unlink((r.contentDir + "/fifo").c_str());
  test::makeSparseFile(r.contentDir + "/huge", 4 * kGiB);
  expectInvalid(makeFilesystem(r), {"'huge'", "4 GiB"});
  unlink((r.contentDir + "/huge").c_str());
  EXPECT_TRUE(makeFilesystem(r).ok());
}

TEST(FilesystemContent, SaysWhenTheContentDoesNotFitAndAsksForALargerSize) {
  TempDir dir;
  std::string content = dir.file("content");
  mkdir(content.c_str(), 0755);
  std::string big(3 * kMiB, 'x');
  test::writeFileAt(content + "/big", 0, big);
  for (Filesystem fs : {Filesystem::kExt4, Filesystem::kVfat}) {
    MkfsRequest r = requestFor(fs, dir, 2 * kMiB);
    r.contentDir = content;
    expectInvalid(makeFilesystem(r), {"does not fit", "2 MiB", "larger size"});
  }
  // mkfs.btrfs grows a file that is too small for the content instead of failing.
  test::writeFileAt(content + "/big", 0, std::string(16 * kMiB, 'y'));
  MkfsRequest r = requestFor(Filesystem::kBtrfs, dir, minimumFilesystemSize(Filesystem::kBtrfs));
  r.contentDir = content;
  expectInvalid(makeFilesystem(r), {"does not fit", "109 MiB", "larger size"});
}

TEST(PartitionType, FollowsTheFilesystem) {
  EXPECT_EQ(mbrPartitionType(Filesystem::kExt4), 0x83);
  EXPECT_EQ(mbrPartitionType(Filesystem::kXfs), 0x83);
  EXPECT_EQ(mbrPartitionType(Filesystem::kSwap), 0x82);
  EXPECT_EQ(mbrPartitionType(Filesystem::kVfat), 0x0c);
  EXPECT_EQ(gptPartitionType(Filesystem::kBtrfs), "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
  EXPECT_EQ(gptPartitionType(Filesystem::kSwap), "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F");
  EXPECT_EQ(gptPartitionType(Filesystem::kVfat), "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
}

}  // namespace
}  // namespace virtscratch::image
