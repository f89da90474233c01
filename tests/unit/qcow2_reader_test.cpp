// The qcow2 reader on images made by qemu-img and qemu-io: the bytes it reads must equal
// `qemu-img convert -O raw` of the same image, and its data extents `qemu-img map`.
#include "image/qcow2_reader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "image/size.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

using test::run;

int64_t jsonNumber(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + key.size() + 3));
}

void runOk(const std::vector<std::string>& argv) {
  auto result = run(argv);
  ASSERT_EQ(result.exitCode, 0) << argv[0] << " " << argv[1] << ": " << result.err;
}

// As qcow2, following backing files by name: what the CLI does when the user gives --format.
Result<std::unique_ptr<DiskView>> openQcow2File(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return failed("cannot open " + path);
  return image::openImage(std::move(fd), path, cliOpenOptions(ImageFormat::kQcow2));
}

// Every guest byte through the view, in reads that straddle cluster boundaries.
std::string readThrough(const DiskView& view) {
  std::string bytes(view.virtualSize(), '\0');
  const uint64_t chunk = 1 * kMiB + 4097;
  for (uint64_t at = 0; at < bytes.size(); at += chunk) {
    uint64_t n = std::min<uint64_t>(chunk, bytes.size() - at);
    auto* p = reinterpret_cast<uint8_t*>(bytes.data() + at);
    Status status = view.read(at, {p, n});
    EXPECT_TRUE(status.ok()) << status.message();
  }
  return bytes;
}

// The ranges `qemu-img map` says hold data (data and not known zero), merged.
std::vector<Extent> qemuDataExtents(const std::string& image) {
  auto map = run({"qemu-img", "map", "--output=json", image});
  EXPECT_EQ(map.exitCode, 0) << map.err;
  std::vector<Extent> extents;
  size_t lineStart = 0;
  while (lineStart < map.out.size()) {
    size_t lineEnd = map.out.find('\n', lineStart);
    if (lineEnd == std::string::npos) lineEnd = map.out.size();
    std::string line = map.out.substr(lineStart, lineEnd - lineStart);
    lineStart = lineEnd + 1;
    if (line.find("\"data\": true") == std::string::npos ||
        line.find("\"zero\": false") == std::string::npos) {
      continue;
    }
    auto start = static_cast<uint64_t>(jsonNumber(line, "start"));
    auto length = static_cast<uint64_t>(jsonNumber(line, "length"));
    if (!extents.empty() && extents.back().end() == start) {
      extents.back().length += length;
    } else {
      extents.push_back({start, length});
    }
  }
  return extents;
}

class Qcow2ReaderTest : public ::testing::Test {
 protected:
  std::string file(const std::string& name) const { return dir_.file(name); }

  // A raw disk with bytes at unaligned places, holes and a zero-filled stretch.
  std::string makeRaw(uint64_t size) {
    std::string raw = file("source.raw");
    test::makeSparseFile(raw, size);
    test::writeFileAt(raw, 0, test::patternBytes(70000, 1));
    test::writeFileAt(raw, 1 * kMiB + 5, test::patternBytes(3 * kMiB, 2));
    test::writeFileAt(raw, 5 * kMiB, std::string(256 * kKiB, '\0'));
    test::writeFileAt(raw, size - 1000, test::patternBytes(1000, 3));
    return raw;
  }

  // The view reads what `qemu-img convert -O raw` reads, and maps what `qemu-img map` maps.
  void expectMatchesQemu(const std::string& image) {
    SCOPED_TRACE(image);
    auto view = openQcow2File(image);
    ASSERT_TRUE(view.ok()) << view.status().message();
    std::string expected = file("expected.raw");
    runOk({"qemu-img", "convert", "-O", "raw", image, expected});
    EXPECT_EQ((*view)->virtualSize(), test::readFile(expected).size());
    EXPECT_TRUE(readThrough(**view) == test::readFile(expected)) << "bytes differ";
    auto extents = (*view)->dataExtents();
    ASSERT_TRUE(extents.ok()) << extents.status().message();
    EXPECT_EQ(*extents, qemuDataExtents(image));
  }

  test::TempDir dir_;
};

TEST_F(Qcow2ReaderTest, ReadsWhatQemuImgConvertWrote) {
  std::string raw = makeRaw(10 * kMiB + 512);
  runOk({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, file("image.qcow2")});
  expectMatchesQemu(file("image.qcow2"));
  auto view = openQcow2File(file("image.qcow2"));
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)->format(), ImageFormat::kQcow2);
  EXPECT_EQ((*view)->allocatedBytes(), test::allocatedBytesOf(file("image.qcow2")));
  EXPECT_EQ((*view)->backingFile(), "");
}

TEST_F(Qcow2ReaderTest, ReadsCompressedClusters) {
  std::string raw = makeRaw(6 * kMiB);
  runOk({"qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, file("c.qcow2")});
  expectMatchesQemu(file("c.qcow2"));
}

TEST_F(Qcow2ReaderTest, ReadsVersion2ImagesAndOtherClusterSizes) {
  std::string raw = makeRaw(6 * kMiB + 1536);
  runOk({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "compat=0.10", raw,
         file("v2.qcow2")});
  expectMatchesQemu(file("v2.qcow2"));
  runOk({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw,
         file("small.qcow2")});
  expectMatchesQemu(file("small.qcow2"));
  runOk({"qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=2M", raw,
         file("big.qcow2")});
  expectMatchesQemu(file("big.qcow2"));
}

TEST_F(Qcow2ReaderTest, ReadsOverlaysThroughTheirBackingFiles) {
  std::string raw = makeRaw(4 * kMiB);
  runOk({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, file("base.qcow2")});
  for (std::string format : {"qcow2", "raw"}) {
    SCOPED_TRACE(format);
    std::string base = format == "raw" ? "source.raw" : "base.qcow2";
    std::string overlay = file("overlay-" + format + ".qcow2");
    runOk({"qemu-img", "create", "-q", "-f", "qcow2", "-b", base, "-F", format, overlay});
    runOk({"qemu-io", "-c", "write -P 0x5a 1M 64k", "-c", "write -z 64k 64k", "-c",
           "write -P 0x33 3M 100", overlay});
    expectMatchesQemu(overlay);
    auto view = openQcow2File(overlay);
    ASSERT_TRUE(view.ok()) << view.status().message();
    EXPECT_EQ((*view)->backingFile(), base);
  }
}

TEST_F(Qcow2ReaderTest, ReadsPreallocatedImages) {
  for (std::string mode : {"metadata", "falloc"}) {
    SCOPED_TRACE(mode);
    std::string image = file(mode + ".qcow2");
    runOk({"qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=" + mode, image,
           "10000000"});
    runOk({"qemu-io", "-c", "write -P 0x42 70000 200000", image});
    expectMatchesQemu(image);
  }
}

TEST_F(Qcow2ReaderTest, ReadsFromSeveralThreadsAtOnce) {
  std::string raw = makeRaw(8 * kMiB);
  runOk({"qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, file("c.qcow2")});
  auto view = openQcow2File(file("c.qcow2"));
  ASSERT_TRUE(view.ok()) << view.status().message();
  const std::string expected = test::readFile(raw);
  std::vector<std::string> results(4);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < results.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) results[t] = readThrough(**view);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const std::string& result : results) EXPECT_TRUE(result == expected);
}

TEST_F(Qcow2ReaderTest, RefusesReadsPastTheEnd) {
  runOk({"qemu-img", "create", "-q", "-f", "qcow2", file("e.qcow2"), "1M"});
  auto view = openQcow2File(file("e.qcow2"));
  ASSERT_TRUE(view.ok());
  std::vector<uint8_t> buf(10);
  EXPECT_EQ((*view)->read(kMiB - 5, buf).code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE((*view)->read(kMiB - 10, buf).ok());
}

TEST_F(Qcow2ReaderTest, TellsQcow2FromOtherFiles) {
  runOk({"qemu-img", "create", "-q", "-f", "qcow2", file("q.qcow2"), "1M"});
  test::writeFileAt(file("raw.img"), 0, "QFI");
  UniqueFd q(open(file("q.qcow2").c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd raw(open(file("raw.img").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(*isQcow2(q.get()));
  EXPECT_FALSE(*isQcow2(raw.get()));
}

// Header field values as they sit in the file: big-endian.
std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}
std::string be64(uint64_t v) {
  return be32(static_cast<uint32_t>(v >> 32)) + be32(static_cast<uint32_t>(v));
}
uint64_t readBe64(const std::string& bytes, uint64_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(bytes[at + i]);
  return v;
}

class Qcow2ReaderCorruptTest : public Qcow2ReaderTest {
 protected:
  // A 1 MiB image with one written cluster; returns its path.
  std::string makeImage(const std::string& name, const std::vector<std::string>& options = {}) {
    std::string image = file(name);
    std::vector<std::string> argv = {"qemu-img", "create", "-q", "-f", "qcow2"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {image, "1M"});
    runOk(argv);
    runOk({"qemu-io", "-c", "write -P 0x61 0 64k", image});
    return image;
  }

  // The error opening `image`, which must fail, with `code` and `text` in its message.
  void expectOpenError(const std::string& image, ErrorCode code, const std::string& text) {
    auto view = openQcow2File(image);
    ASSERT_FALSE(view.ok());
    EXPECT_EQ(view.status().code(), code) << view.status().message();
    EXPECT_NE(view.status().message().find(text), std::string::npos) << view.status().message();
  }

  // The host offset of the L2 entry of guest cluster 0.
  uint64_t firstL2EntryOffset(const std::string& image) {
    std::string bytes = test::readFile(image);
    uint64_t l1 = readBe64(bytes, 40);
    return readBe64(bytes, l1) & 0x00fffffffffffe00;
  }
};

TEST_F(Qcow2ReaderCorruptTest, NamesTheBadHeaderField) {
  std::string image = makeImage("magic.qcow2");
  test::writeFileAt(image, 0, "QFI\xfa");
  expectOpenError(image, ErrorCode::kFailed, "'" + image + "' is not a qcow2 image");

  image = makeImage("bits.qcow2");
  test::writeFileAt(image, 20, be32(30));
  expectOpenError(image, ErrorCode::kFailed, "cluster_bits 30 is outside 9..21");

  image = makeImage("l1.qcow2");
  test::writeFileAt(image, 40, be64(kTiB));
  expectOpenError(image, ErrorCode::kFailed, "l1_table_offset " + std::to_string(kTiB));

  image = makeImage("l1size.qcow2");
  test::writeFileAt(image, 36, be32(0xffffffff));
  expectOpenError(image, ErrorCode::kFailed, "l1_size 4294967295");

  image = makeImage("version.qcow2");
  test::writeFileAt(image, 4, be32(4));
  expectOpenError(image, ErrorCode::kInvalidArgument, "version 4");
}

TEST_F(Qcow2ReaderCorruptTest, ReportsTruncatedFiles) {
  std::string image = makeImage("short.qcow2");
  ASSERT_EQ(truncate(image.c_str(), 50), 0);
  expectOpenError(image, ErrorCode::kFailed, "50 bytes");

  image = makeImage("half.qcow2");
  ASSERT_EQ(truncate(image.c_str(), 3 * 64 * kKiB), 0);  // ends before the L1 table
  expectOpenError(image, ErrorCode::kFailed, "truncated");
}

TEST_F(Qcow2ReaderCorruptTest, RefusesFeaturesItCannotRead) {
  std::string image = makeImage("crypt.qcow2");
  test::writeFileAt(image, 32, be32(1));
  expectOpenError(image, ErrorCode::kInvalidArgument, "encrypted");
  expectOpenError(makeImage("l2.qcow2", {"-o", "extended_l2=on"}), ErrorCode::kInvalidArgument,
                  "extended L2");
  expectOpenError(makeImage("data.qcow2", {"-o", "data_file=" + file("data.raw")}),
                  ErrorCode::kInvalidArgument, "external data file");
  expectOpenError(makeImage("zstd.qcow2", {"-o", "compression_type=zstd"}),
                  ErrorCode::kInvalidArgument, "zstd");
  image = makeImage("future.qcow2");
  test::writeFileAt(image, 72, be64(uint64_t{1} << 20));
  expectOpenError(image, ErrorCode::kInvalidArgument, "unknown incompatible features 0x100000");
}

TEST_F(Qcow2ReaderCorruptTest, ReportsClustersOutsideTheFile) {
  std::string image = makeImage("l2.qcow2");
  test::writeFileAt(image, firstL2EntryOffset(image), be64(kTiB | uint64_t{1} << 63));
  auto view = openQcow2File(image);
  ASSERT_TRUE(view.ok()) << view.status().message();
  std::vector<uint8_t> buf(4096);
  Status read = (*view)->read(0, buf);
  EXPECT_EQ(read.code(), ErrorCode::kFailed);
  EXPECT_NE(read.message().find("host offset " + std::to_string(kTiB)), std::string::npos)
      << read.message();
  EXPECT_FALSE((*view)->dataExtents().ok());
}

TEST_F(Qcow2ReaderCorruptTest, ReportsCompressedDataThatDoesNotInflate) {
  std::string raw = file("p.raw");
  test::makeSparseFile(raw, kMiB);
  test::writeFileAt(raw, 0, test::patternBytes(64 * kKiB, 5));
  std::string image = file("c.qcow2");
  runOk({"qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, image});
  uint64_t entry = readBe64(test::readFile(image), firstL2EntryOffset(image));
  ASSERT_NE(entry & (uint64_t{1} << 62), 0u) << "not a compressed cluster";
  test::writeFileAt(image, entry & ((uint64_t{1} << 54) - 1), std::string(64, '\xff'));
  auto view = openQcow2File(image);
  ASSERT_TRUE(view.ok()) << view.status().message();
  std::vector<uint8_t> buf(512);
  Status read = (*view)->read(0, buf);
  EXPECT_NE(read.message().find("does not decompress"), std::string::npos) << read.message();
}

TEST_F(Qcow2ReaderCorruptTest, StopsBackingChainsThatLoopOrRunTooDeep) {
  std::string a = makeImage("a.qcow2");
  std::string b = makeImage("b.qcow2");
  runOk({"qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a});
  runOk({"qemu-img", "rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", b});
  expectOpenError(a, ErrorCode::kFailed, "loops");

  // 17 images: the top one and 16 backing files open; one more is too deep. The overlays are
  // copies of one qemu-img overlay, with the backing file name's number changed.
  runOk({"qemu-img", "create", "-q", "-f", "qcow2", file("chain00.qcow2"), "1M"});
  runOk({"qemu-img", "create", "-q", "-u", "-f", "qcow2", "-b", "chain00.qcow2", "-F", "qcow2",
         file("overlay.qcow2"), "1M"});
  const std::string overlay = test::readFile(file("overlay.qcow2"));
  const size_t nameAt = overlay.find("chain00.qcow2");
  ASSERT_NE(nameAt, std::string::npos);
  auto chainName = [](int i) {
    return "chain" + std::string(i < 10 ? "0" : "") + std::to_string(i) + ".qcow2";
  };
  for (int i = 1; i <= 17; ++i) {
    std::string bytes = overlay;
    bytes.replace(nameAt, 13, chainName(i - 1));
    test::writeFileAt(file(chainName(i)), 0, bytes);
  }
  auto deepest = openQcow2File(file(chainName(16)));
  EXPECT_TRUE(deepest.ok()) << deepest.status().message();
  expectOpenError(file(chainName(17)), ErrorCode::kFailed, "too long");

  runOk({"qemu-img", "create", "-q", "-u", "-f", "qcow2", "-b", "missing.qcow2", "-F", "qcow2",
         file("orphan.qcow2"), "1M"});
  expectOpenError(file("orphan.qcow2"), ErrorCode::kNotFound, file("missing.qcow2"));
}

// Random damage to the header and tables must end in an error or a readable image, never in a
// crash or a read outside the file (run under the sanitizers to see the latter).
TEST_F(Qcow2ReaderCorruptTest, SurvivesRandomDamageToItsMetadata) {
  std::string raw = file("p.raw");
  test::makeSparseFile(raw, kMiB);
  test::writeFileAt(raw, 0, test::patternBytes(200 * kKiB, 9));
  runOk({"qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", raw, file("good.qcow2")});
  const std::string good = test::readFile(file("good.qcow2"));
  const uint64_t l1 = readBe64(good, 40);
  const uint64_t l2 = firstL2EntryOffset(file("good.qcow2"));
  std::mt19937_64 random(42);
  int opened = 0;
  for (int round = 0; round < 300; ++round) {
    std::string bytes = good;
    for (int flips = 1 + static_cast<int>(random() % 4); flips > 0; --flips) {
      uint64_t region[] = {0, l1, l2};
      uint64_t at = region[random() % 3] + random() % 120;
      bytes[at] = static_cast<char>(random());
    }
    std::string image = file("damaged.qcow2");
    test::makeSparseFile(image, 0);
    test::writeFileAt(image, 0, bytes);
    auto view = openQcow2File(image);
    if (!view.ok()) {
      EXPECT_FALSE(view.status().message().empty());
      continue;
    }
    ++opened;
    uint64_t size = std::min<uint64_t>((*view)->virtualSize(), 2 * kMiB);
    std::vector<uint8_t> buf(size);
    Status read = (*view)->read(0, buf);
    EXPECT_TRUE(read.ok() || !read.message().empty());
    auto extents = (*view)->dataExtents();
    EXPECT_TRUE(extents.ok() || !extents.status().message().empty());
  }
  EXPECT_GT(opened, 0);
}

}  // namespace
}  // namespace virtscratch::image
