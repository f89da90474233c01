// `virt-scratch export`, `import`, `clone` and `resize` as users run them, checked with gunzip,
// gzip -t, Python's gzip module, cmp, qemu-img and blkid.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <string>

#include "tests/support/json_value.h"
#include "tests/support/test_util.h"

namespace virtscratch::test {
namespace {

const std::string kBin = VIRT_SCRATCH_BIN;
constexpr uint64_t kMiB = 1024 * 1024;

std::string randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

std::string compressible(size_t n) {
  std::string s;
  while (s.size() < n) s += "scratch data line " + std::to_string(s.size()) + "\n";
  s.resize(n);
  return s;
}

// A raw image of an odd size with random, compressible and zero regions at unaligned offsets.
std::string makeMixedRaw(const TempDir& dir, const std::string& name, uint64_t size) {
  std::string path = dir.file(name);
  makeSparseFile(path, size);
  writeFileAt(path, 1, randomBytes(300001, 1));
  writeFileAt(path, 5 * kMiB + 17, compressible(2 * kMiB + 3));
  writeFileAt(path, 9 * kMiB + 4095, std::string(70000, '\0'));  // written zeros
  writeFileAt(path, size - 1000, randomBytes(1000, 2));          // up to the odd end
  return path;
}

bool sameBytes(const std::string& a, const std::string& b) {
  return run({"cmp", "-s", a, b}).exitCode == 0;
}

TEST(ExportCommand, WritesGzipThatGunzipAndPythonReadBackByteForByte) {
  TempDir dir;
  std::string raw = makeMixedRaw(dir, "disk.raw", 64 * kMiB + 12345);
  std::string gz = dir.file("disk.raw.gz");
  auto r = run({kBin, "export", raw, gz});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(run({"gzip", "-t", gz}).exitCode, 0);
  std::string back = dir.file("back.raw");
  auto g = run({"sh", "-c", "gunzip -c \"$1\" > \"$2\"", "sh", gz, back});
  ASSERT_EQ(g.exitCode, 0) << g.err;
  EXPECT_TRUE(sameBytes(raw, back));
  auto py = run({"python3", "-c",
                 "import gzip,hashlib,sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read())."
                 "hexdigest())",
                 gz});
  auto sha = run({"sha256sum", raw});
  ASSERT_EQ(py.exitCode, 0) << py.err;
  EXPECT_EQ(py.out.substr(0, 64), sha.out.substr(0, 64));
}

TEST(ExportCommand, ExportsWhatTheGuestSeesOfAQcow2Image) {
  TempDir dir;
  std::string raw = makeMixedRaw(dir, "disk.raw", 32 * kMiB + 512);
  std::string qcow2 = dir.file("disk.qcow2");
  ASSERT_EQ(run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2}).exitCode, 0);
  std::string gz = dir.file("disk.gz");
  auto r = run({kBin, "export", "--level", "6", "--threads", "2", qcow2, gz});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  std::string back = dir.file("back.raw");
  ASSERT_EQ(run({"sh", "-c", "gunzip -c \"$1\" > \"$2\"", "sh", gz, back}).exitCode, 0);
  EXPECT_TRUE(sameBytes(raw, back));
}

TEST(ExportCommand, WritesToStandardOutput) {
  TempDir dir;
  std::string raw = makeMixedRaw(dir, "disk.raw", 16 * kMiB + 1);
  auto r = run({"sh", "-c", "\"$1\" export \"$2\" - | gunzip -c | cmp - \"$2\"", "sh", kBin, raw});
  EXPECT_EQ(r.exitCode, 0) << r.out << r.err;
}

TEST(ExportCommand, RefusesBadInputsAndLeavesNothing) {
  TempDir dir;
  std::string raw = makeMixedRaw(dir, "disk.raw", 8 * kMiB);
  auto missing = run({kBin, "export", dir.file("nope.raw"), dir.file("out.gz")});
  EXPECT_EQ(missing.exitCode, 1);
  EXPECT_NE(missing.err.find("nope.raw"), std::string::npos) << missing.err;
  auto level = run({kBin, "export", "--level", "12", raw, dir.file("out.gz")});
  EXPECT_EQ(level.exitCode, 2);
  EXPECT_NE(level.err.find("'12'"), std::string::npos) << level.err;
  writeFileAt(dir.file("exists.gz"), 0, "keep");
  auto exists = run({kBin, "export", raw, dir.file("exists.gz")});
  EXPECT_EQ(exists.exitCode, 1);
  EXPECT_EQ(readFile(dir.file("exists.gz")), "keep");
  EXPECT_EQ(dir.entries(), (std::vector<std::string>{"disk.raw", "exists.gz"}));
}

TEST(ImportCommand, RestoresASparseImageFromGzipMadeByGzip) {
  TempDir dir;
  std::string raw = makeMixedRaw(dir, "disk.raw", 64 * kMiB + 333);
  std::string gz = dir.file("disk.gz");
  ASSERT_EQ(run({"sh", "-c", "gzip -1 -c \"$1\" > \"$2\"", "sh", raw, gz}).exitCode, 0);
  std::string out = dir.file("out.raw");
  auto r = run({kBin, "import", gz, out});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(sameBytes(raw, out));
  // About 4.3 MiB of data; the written zeros and the holes must not be allocated.
  EXPECT_LT(allocatedBytesOf(out), 6 * kMiB);
}

TEST(ImportCommand, AcceptsMultiMemberGzipFromStandardInputAndWritesQcow2) {
  TempDir dir;
  std::string first = dir.file("a.raw"), second = dir.file("b.raw");
  writeFileAt(first, 0, randomBytes(100000, 3));
  writeFileAt(second, 0, compressible(200000));
  std::string both = dir.file("both.raw");
  ASSERT_EQ(run({"sh", "-c", "cat \"$1\" \"$2\" > \"$3\"", "sh", first, second, both}).exitCode, 0);
  std::string out = dir.file("out.qcow2");
  auto r = run({"sh", "-c",
                "{ gzip -c \"$2\"; gzip -9 -c \"$3\"; } | \"$1\" import --format qcow2 - \"$4\"",
                "sh", kBin, first, second, out});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(run({"qemu-img", "check", out}).exitCode, 0);
  auto cmp = run({"qemu-img", "compare", "-f", "raw", "-F", "qcow2", both, out});
  EXPECT_EQ(cmp.exitCode, 0) << cmp.out << cmp.err;
}

TEST(ImportCommand, ConvertsRawAndQcow2ImagesSparsely) {
  TempDir dir;
  // A whole number of sectors: qcow2 cannot describe a disk that ends inside one.
  std::string raw = makeMixedRaw(dir, "disk.raw", 48 * kMiB + 7 * 512);
  std::string qcow2 = dir.file("disk.qcow2");
  ASSERT_EQ(run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow2}).exitCode, 0);
  for (auto [input, from] : {std::pair{raw, "raw"}, std::pair{qcow2, "qcow2"}}) {
    std::string out = dir.file("out.raw");
    auto r = run({kBin, "import", "--from", from, input, out});
    ASSERT_EQ(r.exitCode, 0) << input << ": " << r.err;
    EXPECT_TRUE(sameBytes(raw, out)) << input;
    EXPECT_LT(allocatedBytesOf(out), 6 * kMiB) << input;
    unlink(out.c_str());
  }
}

TEST(ImportCommand, RejectsTruncatedCorruptAndNonGzipInputsNamingTheOffset) {
  TempDir dir;
  std::string raw = makeMixedRaw(dir, "disk.raw", 8 * kMiB);
  std::string gz = dir.file("disk.gz");
  ASSERT_EQ(run({"sh", "-c", "gzip -c \"$1\" > \"$2\"", "sh", raw, gz}).exitCode, 0);
  std::string bytes = readFile(gz);

  std::string truncated = dir.file("truncated.gz");
  writeFileAt(truncated, 0, bytes.substr(0, bytes.size() / 2));
  std::string flipped = dir.file("flipped.gz");
  std::string f = bytes;
  f[f.size() - 6] = static_cast<char>(f[f.size() - 6] ^ 0x01);  // inside the CRC32
  writeFileAt(flipped, 0, f);
  std::string garbage = dir.file("garbage.gz");
  writeFileAt(garbage, 0, std::string("\x1f\x8b") + randomBytes(5000, 9));

  for (const std::string& bad : {truncated, flipped, garbage}) {
    std::string out = dir.file("out.raw");
    auto r = run({kBin, "import", bad, out});
    EXPECT_EQ(r.exitCode, 1) << bad;
    EXPECT_NE(r.err.find("offset"), std::string::npos) << bad << ": " << r.err;
    EXPECT_FALSE(fileExists(out)) << bad;
  }
  // Plain text on stdin is not gzip either.
  auto notGzip =
      run({"sh", "-c", "echo hello | \"$1\" import - \"$2\"", "sh", kBin, dir.file("out.raw")});
  EXPECT_EQ(notGzip.exitCode, 1);
  EXPECT_NE(notGzip.err.find("not a gzip"), std::string::npos) << notGzip.err;
  EXPECT_FALSE(fileExists(dir.file("out.raw")));
}

TEST(CloneCommand, GivesTheCloneANewFilesystemUuidAndKeepsItSparse) {
  TempDir dir;
  std::string src = dir.file("src.raw");
  ASSERT_EQ(
      run({kBin, "create", "--size", "256M", "--format", "raw", "--label", "data", src}).exitCode,
      0);
  std::string dst = dir.file("dst.raw");
  auto r = run({kBin, "clone", src, dst});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto a = parseExport(run({"blkid", "-p", "-o", "export", src}).out);
  auto b = parseExport(run({"blkid", "-p", "-o", "export", dst}).out);
  EXPECT_EQ(b["TYPE"], "ext4");
  EXPECT_EQ(b["LABEL"], "data");
  EXPECT_FALSE(a["UUID"].empty());
  EXPECT_NE(a["UUID"], b["UUID"]);
  EXPECT_EQ(run({"e2fsck", "-fn", dst}).exitCode, 0);
  EXPECT_LT(allocatedBytesOf(dst), allocatedBytesOf(src) * 11 / 10 + 64 * 1024);
}

TEST(CloneCommand, MakesABackingOverlayThatLeavesTheSourceUntouched) {
  TempDir dir;
  std::string src = dir.file("src.qcow2");
  ASSERT_EQ(run({kBin, "create", "--size", "256M", "--partition", "gpt", src}).exitCode, 0);
  std::string before = run({"sha256sum", src}).out.substr(0, 64);
  std::string dst = dir.file("overlay.qcow2");
  auto r = run({kBin, "clone", "--backing", src, dst});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(run({"sha256sum", src}).out.substr(0, 64), before);
  EXPECT_EQ(run({"qemu-img", "check", dst}).exitCode, 0);
  auto info = Json::parse(run({"qemu-img", "info", "--output=json", dst}).out);
  EXPECT_EQ(info["backing-filename"].str(), src);
  // An overlay is read with its backing file only when the user says it is qcow2.
  auto ours = Json::parse(run({kBin, "info", "--json", "--format", "qcow2", dst}).out);
  auto theirs = Json::parse(run({kBin, "info", "--json", src}).out);
  ASSERT_EQ(ours["filesystems"].array().size(), 1u);
  EXPECT_NE(ours["filesystems"][0]["uuid"].str(), theirs["filesystems"][0]["uuid"].str());
}

TEST(ResizeCommand, GrowsPartitionAndExt4AndRefusesToShrink) {
  TempDir dir;
  std::string img = dir.file("disk.raw");
  ASSERT_EQ(run({kBin, "create", "--size", "128M", "--format", "raw", "--partition", "gpt", img})
                .exitCode,
            0);
  auto r = run({kBin, "resize", img, "1G"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto sf = Json::parse(run({"sfdisk", "--json", img}).out)["partitiontable"];
  uint64_t start = sf["partitions"][0]["start"].u64();
  uint64_t sectors = sf["partitions"][0]["size"].u64();
  // GPT: to the last MiB boundary before the backup table at the new end.
  EXPECT_EQ((start + sectors) * 512, 1023 * kMiB);
  EXPECT_EQ(run({"sfdisk", "--verify", img}).exitCode, 0);
  std::string fs = dir.file("fs.img");
  extractRange(img, start * 512, sectors * 512, fs);
  EXPECT_EQ(run({"e2fsck", "-fn", fs}).exitCode, 0);
  // The filesystem fills the grown partition: block count x block size, as dumpe2fs says.
  auto field = [](const std::string& dump, const std::string& name) -> uint64_t {
    size_t at = dump.find(name + ":");
    return at == std::string::npos ? 0 : std::stoull(dump.substr(at + name.size() + 1));
  };
  std::string dump = run({"dumpe2fs", "-h", fs}).out;
  uint64_t fsBytes = field(dump, "Block count") * field(dump, "Block size");
  EXPECT_GT(fsBytes, 1000 * kMiB) << dump;
  EXPECT_LE(fsBytes, sectors * 512);
  auto shrink = run({kBin, "resize", img, "512M"});
  EXPECT_EQ(shrink.exitCode, 1);
  EXPECT_NE(shrink.err.find("512"), std::string::npos) << shrink.err;
}

}  // namespace
}  // namespace virtscratch::test
