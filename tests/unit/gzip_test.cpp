#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "image/disk_view.h"
#include "image/gzip_export.h"
#include "image/gzip_import.h"
#include "image/open_image.h"
#include "image/size.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

using test::allocatedBytesOf;
using test::CommandResult;
using test::readFile;
using test::run;
using test::TempDir;
using test::writeFileAt;

std::string randomBytes(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(size, '\0');
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

std::string textBytes(size_t size) {
  std::string out;
  for (int line = 0; out.size() < size; ++line) {
    out += "line " + std::to_string(line) + " of a scratch disk that compresses well\n";
  }
  out.resize(size);
  return out;
}

// Random, compressible and written-zero data at unaligned offsets in a file of odd size, with
// holes between them and data in the last byte.
void makeMixedImage(const std::string& path) {
  test::makeSparseFile(path, 3 * kMiB + 12345);
  writeFileAt(path, 100001, randomBytes(300000, 1));
  writeFileAt(path, kMiB + 77, textBytes(500000));
  writeFileAt(path, 2 * kMiB + 333, std::string(200000, '\0'));
  writeFileAt(path, 2 * kMiB + 200333, randomBytes(5000, 2) + std::string(140000, '\0') + "x");
  writeFileAt(path, 3 * kMiB + 12344, "z");
}

class RecordingProgress : public ProgressSink {
 public:
  // Cancelled once `cancelAfter` reports were made (0: from the start); -1: never.
  explicit RecordingProgress(int cancelAfter = -1) : cancelAfter_(cancelAfter) {}
  void report(uint64_t done, uint64_t total) override {
    ++reports;
    lastDone = done;
    lastTotal = total;
  }
  bool cancelled() const override { return cancelAfter_ >= 0 && reports >= cancelAfter_; }
  int reports = 0;
  uint64_t lastDone = 0;
  uint64_t lastTotal = 0;

 private:
  int cancelAfter_;
};

Status exportFile(const std::string& image, const std::string& gz, unsigned threads = 0,
                  int level = 1, ProgressSink* progress = nullptr) {
  auto disk = openImage(image, cliOpenOptions(std::nullopt));
  if (!disk.ok()) return disk.status();
  UniqueFd out(open(gz.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ExportOptions options;
  options.level = level;
  options.threads = threads;
  options.progress = progress;
  return exportGzip(**disk, out.get(), options);
}

Result<uint64_t> importFile(const std::string& gz, const std::string& image,
                            ProgressSink* progress = nullptr) {
  UniqueFd in(open(gz.c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd out(open(image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  ImportOptions options;
  options.progress = progress;
  return importGzip(in.get(), out.get(), options);
}

// Python's gzip module reads `gz` in slices and compares with `image`, never holding either.
constexpr const char* kPythonCompare = R"(
import gzip, sys
with gzip.open(sys.argv[1], 'rb') as z, open(sys.argv[2], 'rb') as raw:
    offset = 0
    while True:
        a = z.read(1 << 22)
        b = raw.read(1 << 22)
        if a != b:
            sys.exit('differs in the 4 MiB at %d' % offset)
        if not a:
            break
        offset += len(a)
)";

// The same with Python's zlib in slices: about three times as fast for a GiB of zeros.
constexpr const char* kPythonZlibCompare = R"(
import sys, zlib
d = zlib.decompressobj(31)
with open(sys.argv[1], 'rb') as gz, open(sys.argv[2], 'rb') as raw:
    data = b''
    while True:
        if not data:
            data = gz.read(1 << 16)
            if not data:
                break
        out = d.decompress(data, 1 << 18)
        data = d.unconsumed_tail
        if out != raw.read(len(out)):
            sys.exit('differs before %d' % raw.tell())
    if not d.eof or raw.read(1):
        sys.exit('lengths differ')
)";

// gzip -t, gunzip and Python's gzip module all read the export as the image's bytes.
void expectToolsReadExportAs(const std::string& gz, const std::string& image) {
  CommandResult test = run({"gzip", "-t", gz});
  EXPECT_EQ(test.exitCode, 0) << test.err;
  CommandResult gunzip = run({"gzip", "-dc", gz});
  EXPECT_EQ(gunzip.exitCode, 0) << gunzip.err;
  const std::string expected = readFile(image);
  EXPECT_EQ(gunzip.out.size(), expected.size());
  EXPECT_TRUE(gunzip.out == expected) << "gunzip output differs from " << image;
  CommandResult python = run({"python3", "-c", kPythonCompare, gz, image});
  EXPECT_EQ(python.exitCode, 0) << python.err;
}

// Compresses `image` with the real gzip tool at `level` into `gz`.
void gzipWithTool(const std::string& image, const std::string& gz, const std::string& level) {
  CommandResult result = run({"gzip", level, "-c", image});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  writeFileAt(gz, 0, result.out);
}

uint64_t nonZeroBlockBytes(const std::string& content) {
  uint64_t bytes = 0;
  for (size_t at = 0; at < content.size(); at += 4096) {
    std::string_view block(content.data() + at, std::min<size_t>(4096, content.size() - at));
    if (block.find_first_not_of('\0') != std::string_view::npos) bytes += 4096;
  }
  return bytes;
}

void expectSameFiles(const std::string& a, const std::string& b) {
  CommandResult cmp = run({"cmp", a, b});
  EXPECT_EQ(cmp.exitCode, 0) << cmp.out << cmp.err;
}

TEST(GzipExport, WritesAStreamGunzipAndPythonReadAsTheImage) {
  TempDir dir;
  makeMixedImage(dir.file("disk.img"));
  ASSERT_TRUE(exportFile(dir.file("disk.img"), dir.file("disk.gz")).ok());
  expectToolsReadExportAs(dir.file("disk.gz"), dir.file("disk.img"));
}

TEST(GzipExport, WritesEveryLevel) {
  TempDir dir;
  makeMixedImage(dir.file("disk.img"));
  for (int level : {1, 6, 9}) {
    std::string gz = dir.file("disk" + std::to_string(level) + ".gz");
    ASSERT_TRUE(exportFile(dir.file("disk.img"), gz, 2, level).ok());
    expectToolsReadExportAs(gz, dir.file("disk.img"));
  }
}

TEST(GzipExport, HandlesAnAllHoleImageAFullImageAndTinyOnes) {
  TempDir dir;
  test::makeSparseFile(dir.file("holes.img"), 5 * kMiB + 1);
  writeFileAt(dir.file("full.img"), 0, randomBytes(kMiB + 4097, 3) + textBytes(700001));
  writeFileAt(dir.file("one.img"), 0, "x");
  test::makeSparseFile(dir.file("empty.img"), 0);
  test::makeSparseFile(dir.file("onehole.img"), 1);
  for (const char* name : {"holes.img", "full.img", "one.img", "empty.img", "onehole.img"}) {
    SCOPED_TRACE(name);
    std::string gz = dir.file(std::string(name) + ".gz");
    ASSERT_TRUE(exportFile(dir.file(name), gz).ok());
    expectToolsReadExportAs(gz, dir.file(name));
  }
}

TEST(GzipExport, OneAndFourThreadsGiveStreamsOfTheSameBytes) {
  TempDir dir;
  // More 4 MiB chunks than either thread count keeps in flight.
  test::makeSparseFile(dir.file("disk.img"), 24 * kMiB + 3);
  writeFileAt(dir.file("disk.img"), 5, randomBytes(9 * kMiB + 11, 4));
  writeFileAt(dir.file("disk.img"), 10 * kMiB + 4095, textBytes(13 * kMiB));
  ASSERT_TRUE(exportFile(dir.file("disk.img"), dir.file("one.gz"), 1).ok());
  ASSERT_TRUE(exportFile(dir.file("disk.img"), dir.file("four.gz"), 4).ok());
  expectToolsReadExportAs(dir.file("one.gz"), dir.file("disk.img"));
  // Chunks do not depend on the thread that compressed them: the output is deterministic.
  EXPECT_TRUE(readFile(dir.file("one.gz")) == readFile(dir.file("four.gz")));
}

TEST(GzipExport, IsAboutAsSmallAsGzipOne) {
  TempDir dir;
  // Incompressible data, a random block repeated (high byte entropy, yet deflate shrinks it),
  // and text.
  std::string repeated;
  const std::string block = randomBytes(20000, 10);
  for (int i = 0; i < 60; ++i) repeated += block;
  writeFileAt(dir.file("disk.img"), 0, randomBytes(kMiB, 11) + repeated + textBytes(kMiB));
  ASSERT_TRUE(exportFile(dir.file("disk.img"), dir.file("disk.gz")).ok());
  expectToolsReadExportAs(dir.file("disk.gz"), dir.file("disk.img"));
  CommandResult gzip = run({"gzip", "-1", "-c", dir.file("disk.img")});
  ASSERT_EQ(gzip.exitCode, 0) << gzip.err;
  EXPECT_LE(readFile(dir.file("disk.gz")).size(), gzip.out.size() * 105 / 100);
}

TEST(GzipExport, WritesToAPipe) {
  TempDir dir;
  makeMixedImage(dir.file("disk.img"));
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd readEnd(fds[0]);
  UniqueFd writeEnd(fds[1]);
  std::string received;
  std::thread reader([&] {
    char buf[65536];
    ssize_t n;
    while ((n = read(readEnd.get(), buf, sizeof buf)) > 0) received.append(buf, n);
  });
  auto disk = openImage(dir.file("disk.img"), cliOpenOptions(ImageFormat::kRaw));
  ASSERT_TRUE(disk.ok());
  Status status = exportGzip(**disk, writeEnd.get(), {});
  writeEnd.reset();
  reader.join();
  ASSERT_TRUE(status.ok()) << status.message();
  writeFileAt(dir.file("piped.gz"), 0, received);
  expectToolsReadExportAs(dir.file("piped.gz"), dir.file("disk.img"));
}

TEST(GzipExport, ExportsALargeSparseImageInSizeProportionalToItsData) {
  TempDir dir;
  test::makeSparseFile(dir.file("big.img"), 1024 * kMiB);
  writeFileAt(dir.file("big.img"), 300 * kMiB + 1, randomBytes(2 * kMiB, 5));
  writeFileAt(dir.file("big.img"), 700 * kMiB + 7, textBytes(kMiB));
  RecordingProgress progress;
  ASSERT_TRUE(exportFile(dir.file("big.img"), dir.file("big.gz"), 0, 1, &progress).ok());
  // 2 MiB of random data stays 2 MiB; 1 GiB of zeros takes about 1 MiB; the text far less.
  EXPECT_LT(readFile(dir.file("big.gz")).size(), 4 * kMiB);
  EXPECT_EQ(progress.lastDone, 1024 * kMiB);
  EXPECT_EQ(progress.lastTotal, 1024 * kMiB);
  CommandResult python =
      run({"python3", "-c", kPythonZlibCompare, dir.file("big.gz"), dir.file("big.img")});
  EXPECT_EQ(python.exitCode, 0) << python.err;
}

TEST(GzipExport, StopsWhenCancelled) {
  TempDir dir;
  test::makeSparseFile(dir.file("disk.img"), 64 * kMiB);
  writeFileAt(dir.file("disk.img"), 0, randomBytes(12 * kMiB, 6));
  RecordingProgress progress(0);
  Status status = exportFile(dir.file("disk.img"), dir.file("disk.gz"), 2, 1, &progress);
  EXPECT_EQ(status.code(), ErrorCode::kCancelled) << status.message();
}

TEST(GzipExport, RejectsALevelOutOfRange) {
  TempDir dir;
  writeFileAt(dir.file("disk.img"), 0, "data");
  Status status = exportFile(dir.file("disk.img"), dir.file("disk.gz"), 1, 10);
  EXPECT_EQ(status.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(status.message().find("level 10"), std::string::npos) << status.message();
}

TEST(GzipImport, RestoresWhatGzipCompressedAsASparseFile) {
  TempDir dir;
  makeMixedImage(dir.file("disk.img"));
  const std::string original = readFile(dir.file("disk.img"));
  for (const char* level : {"-1", "-6"}) {
    SCOPED_TRACE(level);
    const std::string gz = dir.file(std::string("disk") + level + ".gz");
    gzipWithTool(dir.file("disk.img"), gz, level);
    auto size = importFile(gz, dir.file("out.img"));
    ASSERT_TRUE(size.ok()) << size.status().message();
    EXPECT_EQ(*size, original.size());
    expectSameFiles(dir.file("disk.img"), dir.file("out.img"));
    EXPECT_LE(allocatedBytesOf(dir.file("out.img")), nonZeroBlockBytes(original) * 11 / 10 + 65536);
  }
}

TEST(GzipImport, RestoresLongRunsOfZerosAsHoles) {
  TempDir dir;
  test::makeSparseFile(dir.file("disk.img"), 48 * kMiB + 513);
  writeFileAt(dir.file("disk.img"), 4096, textBytes(100000));
  writeFileAt(dir.file("disk.img"), 21 * kMiB + 3, randomBytes(70000, 7));
  writeFileAt(dir.file("disk.img"), 48 * kMiB + 100, "tail");
  gzipWithTool(dir.file("disk.img"), dir.file("disk.gz"), "-1");
  auto size = importFile(dir.file("disk.gz"), dir.file("out.img"));
  ASSERT_TRUE(size.ok()) << size.status().message();
  expectSameFiles(dir.file("disk.img"), dir.file("out.img"));
  EXPECT_LE(allocatedBytesOf(dir.file("out.img")), 300 * 1024u);
}

// Python's zlib with a full flush every MiB writes holes as byte-aligned identical pieces, the
// way pigz and sparse-aware exporters do.
TEST(GzipImport, RestoresHolesWrittenAsRepeatedFlushedPieces) {
  TempDir dir;
  constexpr const char* kScript = R"(
import sys, zlib
c = zlib.compressobj(1, zlib.DEFLATED, 31)
parts = [b'head' * 1000, bytes(20 << 20), b'middle' * 5000, bytes((12 << 20) + 5), b'end']
with open(sys.argv[1], 'wb') as raw, open(sys.argv[2], 'wb') as gz:
    for part in parts:
        raw.write(part)
        for at in range(0, len(part), 1 << 20):
            gz.write(c.compress(part[at:at + (1 << 20)]))
            gz.write(c.flush(zlib.Z_FULL_FLUSH))
    gz.write(c.flush())
)";
  CommandResult made = run({"python3", "-c", kScript, dir.file("disk.img"), dir.file("disk.gz")});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  auto size = importFile(dir.file("disk.gz"), dir.file("out.img"));
  ASSERT_TRUE(size.ok()) << size.status().message();
  expectSameFiles(dir.file("disk.img"), dir.file("out.img"));
  EXPECT_LE(allocatedBytesOf(dir.file("out.img")), 200 * 1024u);
}

TEST(GzipImport, ReadsConcatenatedMembers) {
  TempDir dir;
  writeFileAt(dir.file("a"), 0, textBytes(300000));
  test::makeSparseFile(dir.file("b"), 2 * kMiB + 1);
  writeFileAt(dir.file("b"), kMiB, randomBytes(1000, 8));
  gzipWithTool(dir.file("a"), dir.file("a.gz"), "-6");
  gzipWithTool(dir.file("b"), dir.file("b.gz"), "-1");
  writeFileAt(dir.file("ab.gz"), 0, readFile(dir.file("a.gz")) + readFile(dir.file("b.gz")));
  writeFileAt(dir.file("ab"), 0, readFile(dir.file("a")) + readFile(dir.file("b")));
  auto size = importFile(dir.file("ab.gz"), dir.file("out.img"));
  ASSERT_TRUE(size.ok()) << size.status().message();
  expectSameFiles(dir.file("ab"), dir.file("out.img"));
}

TEST(GzipImport, ReadsFromAPipeAndReportsCompressedBytes) {
  TempDir dir;
  makeMixedImage(dir.file("disk.img"));
  gzipWithTool(dir.file("disk.img"), dir.file("disk.gz"), "-6");
  const std::string gz = readFile(dir.file("disk.gz"));
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  UniqueFd readEnd(fds[0]);
  UniqueFd writeEnd(fds[1]);
  std::thread writer([&] {
    for (size_t at = 0; at < gz.size();) {
      ssize_t n = write(writeEnd.get(), gz.data() + at, std::min<size_t>(gz.size() - at, 7777));
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    writeEnd.reset();
  });
  UniqueFd out(open(dir.file("out.img").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  RecordingProgress progress;
  ImportOptions options;
  options.progress = &progress;
  auto size = importGzip(readEnd.get(), out.get(), options);
  writer.join();
  ASSERT_TRUE(size.ok()) << size.status().message();
  expectSameFiles(dir.file("disk.img"), dir.file("out.img"));
  EXPECT_EQ(progress.lastDone, gz.size());
  EXPECT_EQ(progress.lastTotal, 0u);
}

class GzipImportErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    writeFileAt(dir_.file("disk.img"), 0, randomBytes(kMiB, 9));
    gzipWithTool(dir_.file("disk.img"), dir_.file("disk.gz"), "-6");
    gz_ = readFile(dir_.file("disk.gz"));
  }
  // Imports `content` as a gzip file and returns the error.
  Status importContent(const std::string& content) {
    std::string path = dir_.file("input-" + std::to_string(++inputs_));
    writeFileAt(path, 0, content);
    auto size = importFile(path, dir_.file("out-" + std::to_string(inputs_)));
    return size.status();
  }
  TempDir dir_;
  std::string gz_;
  int inputs_ = 0;
};

::testing::AssertionResult isInvalidArgumentMentioning(const Status& status,
                                                       const std::string& text) {
  if (status.code() == ErrorCode::kInvalidArgument &&
      status.message().find(text) != std::string::npos) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "expected an invalid-argument error mentioning '" << text
                                       << "', got: " << status.message();
}

TEST_F(GzipImportErrors, RejectsATruncatedStreamNamingWhereItEnds) {
  for (size_t length : {size_t{5}, gz_.size() / 2, gz_.size() - 3}) {
    Status status = importContent(gz_.substr(0, length));
    EXPECT_TRUE(isInvalidArgumentMentioning(
        status, "ends early at compressed offset " + std::to_string(length)));
  }
}

TEST_F(GzipImportErrors, RejectsACorruptChecksum) {
  std::string flipped = gz_;
  flipped[gz_.size() - 8] ^= 0x10;
  EXPECT_TRUE(isInvalidArgumentMentioning(
      importContent(flipped),
      "CRC mismatch in member 1 ending at compressed offset " + std::to_string(gz_.size())));
}

TEST_F(GzipImportErrors, RejectsAFlippedBitInTheData) {
  // Random data is stored as it is, so the flip changes the output and the CRC catches it.
  std::string flipped = gz_;
  flipped[gz_.size() / 2] ^= 0x01;
  EXPECT_TRUE(isInvalidArgumentMentioning(
      importContent(flipped),
      "CRC mismatch in member 1 ending at compressed offset " + std::to_string(gz_.size())));
}

TEST_F(GzipImportErrors, RejectsAnInvalidBlock) {
  // gzip stores the file name: the deflate data starts after it.
  const size_t deflateStart = gz_.find('\0', 10) + 1;
  ASSERT_EQ(gz_.substr(10, deflateStart - 10), std::string("disk.img") + '\0');
  std::string broken = gz_;
  broken[deflateStart] = static_cast<char>(0x07);  // BTYPE 3 does not exist
  EXPECT_TRUE(isInvalidArgumentMentioning(
      importContent(broken), "at compressed offset " + std::to_string(deflateStart + 1)));
}

TEST_F(GzipImportErrors, RejectsInputThatIsNotGzip) {
  EXPECT_TRUE(
      isInvalidArgumentMentioning(importContent("PK\x03\x04 not gzip at all"),
                                  "not a gzip file: it starts with bytes 50 4b 03 04 at offset 0"));
  EXPECT_TRUE(isInvalidArgumentMentioning(importContent(""), "not a gzip file"));
}

TEST_F(GzipImportErrors, RejectsTrailingGarbageButNotASecondMember) {
  EXPECT_TRUE(isInvalidArgumentMentioning(
      importContent(gz_ + "garbage"),
      "after gzip member 1 at compressed offset " + std::to_string(gz_.size())));
  EXPECT_TRUE(importContent(gz_ + gz_).ok());
}

TEST_F(GzipImportErrors, StopsWhenCancelled) {
  RecordingProgress progress(0);
  auto size = importFile(dir_.file("disk.gz"), dir_.file("out.img"), &progress);
  EXPECT_EQ(size.status().code(), ErrorCode::kCancelled) << size.status().message();
}

}  // namespace
}  // namespace virtscratch::image
