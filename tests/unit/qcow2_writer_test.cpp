// The qcow2 writer's images, checked with qemu-img and qemu-io: consistency (`check`), the header
// (`info`), the guest bytes (`compare` against a raw file holding the same bytes) and the mapping
// (`map`).
#include "image/qcow2_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "image/size.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

using test::run;

// The number after "key": in qemu-img's JSON output, or -1.
int64_t jsonNumber(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

// The guest bytes `qemu-img map --output=json` reports as present in the image itself.
uint64_t presentBytes(const std::string& mapJson) {
  uint64_t bytes = 0;
  size_t lineStart = 0;
  while (lineStart < mapJson.size()) {
    size_t lineEnd = mapJson.find('\n', lineStart);
    if (lineEnd == std::string::npos) lineEnd = mapJson.size();
    std::string line = mapJson.substr(lineStart, lineEnd - lineStart);
    if (line.find("\"present\": true") != std::string::npos &&
        line.find("\"depth\": 0") != std::string::npos) {
      bytes += static_cast<uint64_t>(jsonNumber(line, "length"));
    }
    lineStart = lineEnd + 1;
  }
  return bytes;
}

uint64_t fileSizeOf(const std::string& path) {
  struct stat st {};
  stat(path.c_str(), &st);
  return static_cast<uint64_t>(st.st_size);
}

// Guest extents whose bytes sit packed in a source file (at other offsets than in the guest),
// and a raw file of the virtual size holding the same guest bytes for `qemu-img compare`.
class Qcow2WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = UniqueFd(open(dir_.file("source.bin").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(source_.valid());
  }

  void setVirtualSize(uint64_t size, bool withExpected = true) {
    options_.virtualSize = size;
    if (withExpected) test::makeSparseFile(expected(), size);
  }

  // fill < 0: a pattern; else every byte is `fill`.
  void addExtent(uint64_t guestOffset, uint64_t length, int fill = -1) {
    std::string data = fill < 0 ? test::patternBytes(length, guestOffset)
                                : std::string(length, static_cast<char>(fill));
    sourceEnd_ += 4099;  // keep source and guest offsets unrelated
    ASSERT_EQ(pwrite(source_.get(), data.data(), length, static_cast<off_t>(sourceEnd_)),
              static_cast<ssize_t>(length));
    if (test::fileExists(expected())) test::writeFileAt(expected(), guestOffset, data);
    extents_.push_back({guestOffset, length, source_.get(), sourceEnd_});
    sourceEnd_ += length;
  }

  Status write() {
    UniqueFd out(open(image().c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out) return failed("cannot create " + image());
    return writeQcow2(out.get(), options_, extents_);
  }

  ::testing::AssertionResult written() {
    Status status = write();
    if (status.ok()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << status.message();
  }

  std::string image() const { return dir_.file("image.qcow2"); }
  std::string expected() const { return dir_.file("expected.raw"); }

  void expectCheckClean() {
    auto check = run({"qemu-img", "check", "--output=json", image()});
    EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
    EXPECT_EQ(jsonNumber(check.out, "check-errors"), 0) << check.out;
    EXPECT_EQ(check.out.find("leaks"), std::string::npos) << check.out;
    EXPECT_EQ(check.out.find("corruptions"), std::string::npos) << check.out;
  }

  void expectInfo(uint64_t virtualSize) {
    auto info = run({"qemu-img", "info", "--output=json", image()});
    ASSERT_EQ(info.exitCode, 0) << info.err;
    EXPECT_EQ(jsonNumber(info.out, "virtual-size"), static_cast<int64_t>(virtualSize));
    EXPECT_NE(info.out.find("\"format\": \"qcow2\""), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("\"compat\": \"1.1\""), std::string::npos) << info.out;
  }

  void expectSameBytesAs(const std::string& raw) {
    auto compare = run({"qemu-img", "compare", "-f", "raw", "-F", "qcow2", raw, image()});
    EXPECT_EQ(compare.exitCode, 0) << compare.out << compare.err;
  }

  test::TempDir dir_;
  UniqueFd source_;
  uint64_t sourceEnd_ = 0;
  Qcow2WriteOptions options_;
  std::vector<SourceExtent> extents_;
};

TEST_F(Qcow2WriterTest, WritesATinyImageThatQemuImgChecks) {
  setVirtualSize(1000);
  addExtent(3, 10);
  addExtent(900, 100);
  ASSERT_TRUE(written());
  expectCheckClean();
  expectInfo(1024);  // rounded up to whole sectors, as qemu-img create does
  expectSameBytesAs(expected());
}

TEST_F(Qcow2WriterTest, WritesAnEmptyImage) {
  setVirtualSize(1 * kGiB);
  ASSERT_TRUE(written());
  expectCheckClean();
  expectInfo(1 * kGiB);
  expectSameBytesAs(expected());
}

TEST_F(Qcow2WriterTest, PlacesUnalignedExtentsInAnOddSizedImage) {
  setVirtualSize(10000000);
  addExtent(1, 100);
  addExtent(65530, 20);  // crosses a cluster boundary
  addExtent(70000, 5);   // shares the cluster with the one before
  addExtent(70005, 3);   // adjacent to the one before
  addExtent(1 * kMiB + 7, 300000);
  addExtent(9999990, 10);  // the last bytes
  ASSERT_TRUE(written());
  expectCheckClean();
  expectInfo(10000384);
  expectSameBytesAs(expected());
}

TEST_F(Qcow2WriterTest, SpansL2TablesInAGibibyteImage) {
  setVirtualSize(1 * kGiB);
  addExtent(512 * kMiB - 100, 200);  // across the first L2 table's end
  addExtent(512 * kMiB + 64 * kKiB, 3 * kMiB + 1);
  addExtent(1 * kGiB - 4096, 4096);
  ASSERT_TRUE(written());
  expectCheckClean();
  expectInfo(1 * kGiB);
  expectSameBytesAs(expected());
}

TEST_F(Qcow2WriterTest, WritesASparseTebibyteImageWithHundredsOfExtents) {
  setVirtualSize(1 * kTiB);
  for (uint64_t i = 0; i < 500; ++i) addExtent(i * 2000 * kMiB + i * 3, 4096 + i);
  ASSERT_TRUE(written());
  expectCheckClean();
  expectInfo(1 * kTiB);
  expectSameBytesAs(expected());
  EXPECT_LT(test::allocatedBytesOf(image()), 16 * kMiB);  // only the touched 4 KiB pages
}

TEST_F(Qcow2WriterTest, WritesTheLargestSupportedSize) {
  // 64 TiB is past ext4's largest file, so the bytes are checked with qemu-io instead.
  setVirtualSize(64 * kTiB, false);
  addExtent(0, 512, 0x11);
  addExtent(40 * kTiB + 12345, 70000, 0x22);
  addExtent(64 * kTiB - 1000, 1000, 0x33);
  ASSERT_TRUE(written());
  expectCheckClean();
  expectInfo(64 * kTiB);
  const std::pair<uint64_t, int> kFills[] = {{0, 0x11}, {1, 0x22}, {2, 0x33}};
  for (auto [index, fill] : kFills) {
    const SourceExtent& e = extents_[index];
    auto read = run({"qemu-io", "-f", "qcow2", "-r", "-c",
                     "read -P " + std::to_string(fill) + " " + std::to_string(e.guestOffset) + " " +
                         std::to_string(e.length),
                     image()});
    EXPECT_EQ(read.exitCode, 0) << read.out << read.err;
    EXPECT_EQ(read.out.find("fail"), std::string::npos) << read.out;
  }
  // And the bytes around them are zeros.
  auto zeros = run({"qemu-io", "-f", "qcow2", "-r", "-c",
                    "read -P 0 " + std::to_string(40 * kTiB) + " 12345", image()});
  EXPECT_EQ(zeros.out.find("fail"), std::string::npos) << zeros.out;
  // Four clusters mapped: one at the start, two for the middle extent, one at the end.
  auto map = run({"qemu-img", "map", "--output=json", image()});
  ASSERT_EQ(map.exitCode, 0) << map.err;
  EXPECT_EQ(presentBytes(map.out), 4 * 64 * kKiB) << map.out;
}

// The same file size as `qemu-img create -o preallocation=<mode>` (same metadata cluster count at
// this size), every cluster mapped, and the space taken as the mode says.
TEST_F(Qcow2WriterTest, PreallocatesAsQemuImgDoes) {
  const uint64_t size = 10000000;
  const uint64_t dataBytes = 153 * 64 * kKiB;
  for (Preallocation mode :
       {Preallocation::kMetadata, Preallocation::kFalloc, Preallocation::kFull}) {
    SCOPED_TRACE(std::string(toString(mode)));
    extents_.clear();
    setVirtualSize(size);
    options_.preallocation = mode;
    addExtent(5, 5000);
    addExtent(5000000, 123457);
    ASSERT_TRUE(written());
    expectCheckClean();
    expectInfo(10000384);
    expectSameBytesAs(expected());

    std::string reference = dir_.file("qemu.qcow2");
    auto create =
        run({"qemu-img", "create", "-q", "-f", "qcow2", "-o",
             "preallocation=" + std::string(toString(mode)), reference, std::to_string(size)});
    ASSERT_EQ(create.exitCode, 0) << create.err;
    EXPECT_EQ(fileSizeOf(image()), fileSizeOf(reference));

    auto map = run({"qemu-img", "map", "--output=json", image()});
    ASSERT_EQ(map.exitCode, 0) << map.err;
    EXPECT_EQ(map.out.find("\"data\": false"), std::string::npos) << map.out;
    EXPECT_EQ(map.out.find("\"present\": false"), std::string::npos) << map.out;

    uint64_t allocated = test::allocatedBytesOf(image());
    if (mode == Preallocation::kMetadata) {
      EXPECT_LT(allocated, 1 * kMiB);
    } else {
      EXPECT_GE(allocated, dataBytes);
    }
  }
}

TEST_F(Qcow2WriterTest, WritesAnOverlayOfARawBackingFile) {
  setVirtualSize(4 * kMiB);
  std::string base = dir_.file("base.raw");
  test::makeSparseFile(base, 4 * kMiB);
  test::writeFileAt(base, 0, test::patternBytes(3 * kMiB, 99));
  test::writeFileAt(expected(), 0, test::patternBytes(3 * kMiB, 99));
  addExtent(100, 1000);
  addExtent(2 * kMiB + 1, 70000);
  addExtent(3 * kMiB + 512 * kKiB, 10);  // where the backing file holds zeros
  options_.backingFile = "base.raw";
  options_.backingFormat = ImageFormat::kRaw;
  ASSERT_TRUE(written());
  expectCheckClean();
  // Three clusters completed from the backing file, one 4 KiB block of the last, the metadata.
  EXPECT_LT(test::allocatedBytesOf(image()), 256 * kKiB);
  auto info = run({"qemu-img", "info", "--output=json", image()});
  EXPECT_NE(info.out.find("\"backing-filename\": \"base.raw\""), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("\"backing-filename-format\": \"raw\""), std::string::npos) << info.out;
  expectSameBytesAs(expected());
}

TEST_F(Qcow2WriterTest, WritesAnOverlayOfAQcow2BackingFile) {
  setVirtualSize(2 * kMiB);
  std::string baseRaw = dir_.file("base.raw");
  test::makeSparseFile(baseRaw, 2 * kMiB);
  test::writeFileAt(baseRaw, 64 * kKiB, test::patternBytes(kMiB, 7));
  test::writeFileAt(expected(), 64 * kKiB, test::patternBytes(kMiB, 7));
  auto convert =
      run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", baseRaw, dir_.file("base.qcow2")});
  ASSERT_EQ(convert.exitCode, 0) << convert.err;
  addExtent(64 * kKiB + 10, 10);
  options_.backingFile = dir_.file("base.qcow2");  // absolute names work as well
  options_.backingFormat = ImageFormat::kQcow2;
  ASSERT_TRUE(written());
  expectCheckClean();
  auto info = run({"qemu-img", "info", "--output=json", image()});
  EXPECT_NE(info.out.find("\"backing-filename-format\": \"qcow2\""), std::string::npos) << info.out;
  expectSameBytesAs(expected());
}

TEST_F(Qcow2WriterTest, RejectsInvalidExtentsNamingThem) {
  setVirtualSize(1 * kMiB);
  addExtent(5000, 100);
  addExtent(4000, 100);
  Status unsorted = write();
  EXPECT_EQ(unsorted.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(unsorted.message().find("guest offset 4000"), std::string::npos) << unsorted.message();

  extents_.clear();
  addExtent(5000, 100);
  addExtent(5099, 100);
  Status overlapping = write();
  EXPECT_EQ(overlapping.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(overlapping.message().find("5100"), std::string::npos) << overlapping.message();

  extents_.clear();
  addExtent(kMiB - 10, 11);
  Status outside = write();
  EXPECT_EQ(outside.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(outside.message().find(std::to_string(kMiB)), std::string::npos) << outside.message();

  extents_.clear();
  options_.virtualSize = 0;
  Status zero = write();
  EXPECT_EQ(zero.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(zero.message().find("size 0"), std::string::npos) << zero.message();
}

class RecordingProgress final : public ProgressSink {
 public:
  void report(uint64_t done, uint64_t total) override { reports.push_back({done, total}); }
  bool cancelled() const override { return cancel; }
  std::vector<std::pair<uint64_t, uint64_t>> reports;
  bool cancel = false;
};

TEST_F(Qcow2WriterTest, ReportsProgressOverAllExtents) {
  setVirtualSize(64 * kMiB);
  for (uint64_t i = 0; i < 10; ++i) addExtent(i * 5 * kMiB, kMiB + i);
  RecordingProgress progress;
  options_.progress = &progress;
  ASSERT_TRUE(written());
  ASSERT_FALSE(progress.reports.empty());
  uint64_t total = 10 * kMiB + 45;
  EXPECT_EQ(progress.reports.back(), std::make_pair(total, total));
  for (size_t i = 1; i < progress.reports.size(); ++i) {
    EXPECT_LE(progress.reports[i - 1].first, progress.reports[i].first);
  }
}

TEST_F(Qcow2WriterTest, StopsWhenCancelled) {
  setVirtualSize(64 * kMiB);
  addExtent(0, kMiB);
  RecordingProgress progress;
  progress.cancel = true;
  options_.progress = &progress;
  EXPECT_EQ(write().code(), ErrorCode::kCancelled);
}

}  // namespace
}  // namespace virtscratch::image
