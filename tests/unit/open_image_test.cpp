// Opening images with the format and backing policy the caller vouches for: a raw disk whose
// first sector a guest made a qcow2 header naming a host file is read as raw; a backing file is
// reached only as the caller allows, with the format its image records; and data extents come
// in windows that add up to the whole.
#include "image/open_image.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "image/size.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

using test::run;

class OpenImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    secret_ = dir_.file("secret.txt");
    test::writeFileAt(secret_, 0, "the secret of the host");
    // What a guest can write into the first sector of its raw disk: a qcow2 header naming a
    // host file as its backing file and claiming 4 TiB.
    ASSERT_EQ(run({"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", secret_, "-F", "raw",
                   dir_.file("header.qcow2"), "4T"})
                  .exitCode,
              0);
    hostile_ = dir_.file("disk.raw");
    test::makeSparseFile(hostile_, 8 * kMiB);
    test::writeFileAt(hostile_, 0, test::readFile(dir_.file("header.qcow2")));
  }

  std::string readAllOf(const DiskView& view) {
    std::string bytes(view.virtualSize(), '\0');
    Status status = view.read(0, {reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()});
    EXPECT_TRUE(status.ok()) << status.message();
    return bytes;
  }

  test::TempDir dir_;
  std::string secret_, hostile_;
};

OpenOptions withFormat(ImageFormat format, BackingPolicy backing = BackingPolicy::kRefuse) {
  OpenOptions options;
  options.format = format;
  options.backing = backing;
  return options;
}

TEST_F(OpenImageTest, ReadsARawDiskWithAQcow2HeaderAsRawWhenToldRaw) {
  auto view = openImage(hostile_, withFormat(ImageFormat::kRaw));
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ((*view)->format(), ImageFormat::kRaw);
  EXPECT_EQ((*view)->virtualSize(), 8 * kMiB);
  EXPECT_EQ((*view)->backingFile(), "");
  std::string bytes = readAllOf(**view);
  EXPECT_EQ(bytes, test::readFile(hostile_));
  EXPECT_EQ(bytes.find("the secret of the host"), std::string::npos);
}

TEST_F(OpenImageTest, ProbingRefusesAnImageThatNamesABackingFileNamingItAndTheOption) {
  auto view = openImage(hostile_, cliOpenOptions(std::nullopt));
  ASSERT_FALSE(view.ok());
  EXPECT_EQ(view.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(view.status().message().find("'" + secret_ + "'"), std::string::npos)
      << view.status().message();
  EXPECT_NE(view.status().message().find("--format qcow2"), std::string::npos)
      << view.status().message();
}

TEST_F(OpenImageTest, RefusesToGuessWhenTheCallerDoesNotAskForIt) {
  auto view = openImage(hostile_, OpenOptions{});
  ASSERT_FALSE(view.ok());
  EXPECT_NE(view.status().message().find("no format given for '" + hostile_ + "'"),
            std::string::npos)
      << view.status().message();
}

TEST_F(OpenImageTest, RefusesBackingFilesUnlessTheCallerAllowsThem) {
  auto view = openImage(dir_.file("header.qcow2"), withFormat(ImageFormat::kQcow2));
  ASSERT_FALSE(view.ok());
  EXPECT_NE(view.status().message().find("names backing file '" + secret_ + "'"), std::string::npos)
      << view.status().message();
}

TEST_F(OpenImageTest, FollowsBackingFilesByNameWithTheRecordedFormatWhenAsked) {
  auto view = openImage(dir_.file("header.qcow2"),
                        withFormat(ImageFormat::kQcow2, BackingPolicy::kFollowByName));
  ASSERT_TRUE(view.ok()) << view.status().message();
  std::vector<uint8_t> start(22);
  ASSERT_TRUE((*view)->read(0, start).ok());
  EXPECT_EQ(std::string(start.begin(), start.end()), "the secret of the host");
}

TEST_F(OpenImageTest, RefusesABackingFileWhoseFormatIsNotRecorded) {
  // The backing format header extension renamed to one readers ignore: the name stays.
  std::string bytes = test::readFile(dir_.file("header.qcow2"));
  const std::string magic("\xe2\x79\x2a\xca", 4);
  size_t at = bytes.find(magic);
  ASSERT_NE(at, std::string::npos);
  std::string unformatted = dir_.file("unformatted.qcow2");
  test::writeFileAt(unformatted, 0, bytes);
  test::writeFileAt(unformatted, at, "\x12\x34\x56\x78");
  auto view = openImage(unformatted, withFormat(ImageFormat::kQcow2, BackingPolicy::kFollowByName));
  ASSERT_FALSE(view.ok());
  EXPECT_NE(view.status().message().find("without its format"), std::string::npos)
      << view.status().message();
  EXPECT_NE(view.status().message().find(secret_), std::string::npos) << view.status().message();
}

TEST_F(OpenImageTest, GivesTheCallersOpenerTheNameAndFormatAsRecorded) {
  std::vector<BackingRef> asked;
  OpenOptions options = withFormat(ImageFormat::kQcow2, BackingPolicy::kOpener);
  options.opener = [&](const BackingRef& ref) -> Result<std::unique_ptr<DiskView>> {
    asked.push_back(ref);
    return Status(ErrorCode::kInvalidArgument, "not this one");
  };
  auto view = openImage(dir_.file("header.qcow2"), options);
  ASSERT_FALSE(view.ok());
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].name, secret_);
  EXPECT_EQ(asked[0].format, "raw");
  EXPECT_NE(view.status().message().find("not this one"), std::string::npos);
}

// Windows smaller than the extents, so extents cross their edges and are joined again.
void expectWindowsAddUp(const DiskView& view, uint64_t window) {
  auto whole = view.dataExtents();
  ASSERT_TRUE(whole.ok()) << whole.status().message();
  ASSERT_GT(whole->size(), 2u);
  std::vector<Extent> walked;
  ExtentWalker walker(view, window);
  for (;;) {
    auto next = walker.next();
    ASSERT_TRUE(next.ok()) << next.status().message();
    if (!*next) break;
    walked.push_back(**next);
  }
  EXPECT_EQ(walked, *whole);
}

TEST_F(OpenImageTest, WalksRawExtentsInWindowsThatAddUpToTheWhole) {
  std::string raw = dir_.file("fragmented.raw");
  test::makeSparseFile(raw, 4 * kMiB);
  for (uint64_t at : {uint64_t{0}, 100 * kKiB, 1 * kMiB, 3 * kMiB + 4 * kKiB}) {
    test::writeFileAt(raw, at, std::string(300 * kKiB, 'x'));
  }
  auto view = openImage(raw, withFormat(ImageFormat::kRaw));
  ASSERT_TRUE(view.ok()) << view.status().message();
  expectWindowsAddUp(**view, 64 * kKiB);
  expectWindowsAddUp(**view, 1 * kMiB);
}

TEST_F(OpenImageTest, WalksQcow2ExtentsInWindowsThatAddUpToTheWhole) {
  std::string raw = dir_.file("source.raw");
  test::makeSparseFile(raw, 8 * kMiB);
  for (uint64_t at : {uint64_t{0}, 200 * kKiB, 2 * kMiB, 5 * kMiB + 64 * kKiB}) {
    test::writeFileAt(raw, at, std::string(700 * kKiB, 'y'));
  }
  std::string qcow2 = dir_.file("image.qcow2");
  ASSERT_EQ(run({"qemu-img", "convert", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=65536", raw,
                 qcow2})
                .exitCode,
            0);
  auto view = openImage(qcow2, withFormat(ImageFormat::kQcow2));
  ASSERT_TRUE(view.ok()) << view.status().message();
  expectWindowsAddUp(**view, 64 * kKiB);
  expectWindowsAddUp(**view, 3 * kMiB);
}

}  // namespace
}  // namespace virtscratch::image
