#include "base/file_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "image/size.h"
#include "tests/support/test_util.h"

namespace virtscratch {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

using test::TempDir;

TEST(DataExtents, FindsOnlyTheWrittenRangesOfASparseFile) {
  TempDir dir;
  std::string path = dir.file("sparse");
  test::makeSparseFile(path, 1 * kGiB);
  test::writeFileAt(path, 0, std::string(4096, 'a'));
  test::writeFileAt(path, 512 * kMiB, std::string(8192, 'b'));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto extents = dataExtents(fd.get(), 0, kGiB);
  ASSERT_TRUE(extents.ok());
  ASSERT_EQ(extents->size(), 2u);
  EXPECT_EQ((*extents)[0].offset, 0u);
  EXPECT_GE((*extents)[0].length, 4096u);
  EXPECT_EQ((*extents)[1].offset, 512 * kMiB);
  EXPECT_GE((*extents)[1].length, 8192u);
}

TEST(DataExtents, ClipsToTheRangeAsked) {
  TempDir dir;
  std::string path = dir.file("sparse");
  test::makeSparseFile(path, 16 * kMiB);
  test::writeFileAt(path, kMiB, std::string(kMiB, 'x'));
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto extents = dataExtents(fd.get(), kMiB + 4096, kMiB + 8192);
  ASSERT_TRUE(extents.ok());
  ASSERT_EQ(extents->size(), 1u);
  EXPECT_EQ((*extents)[0], (Extent{kMiB + 4096, 4096}));
  auto none = dataExtents(fd.get(), 4 * kMiB, 16 * kMiB);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(CopyRange, CopiesBytesToAnotherOffsetWithoutFillingHoles) {
  TempDir dir;
  std::string src = dir.file("src"), dst = dir.file("dst");
  std::string data;
  for (int i = 0; i < 300000; ++i) data += static_cast<char>('a' + i % 26);
  test::makeSparseFile(src, 8 * kMiB);
  test::writeFileAt(src, 12345, data);
  test::makeSparseFile(dst, 1 * kGiB);
  UniqueFd in(open(src.c_str(), O_RDONLY | O_CLOEXEC));
  UniqueFd out(open(dst.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(copyRange(in.get(), 12345, out.get(), 700 * kMiB + 7, data.size()).ok());
  std::string back(data.size(), '\0');
  ASSERT_TRUE(readAll(out.get(), back.data(), back.size(), 700 * kMiB + 7).ok());
  EXPECT_EQ(back, data);
  EXPECT_LT(test::allocatedBytesOf(dst), 2 * kMiB);
}

TEST(ReadAll, FailsAtTheEndOfTheFileNamingTheOffset) {
  TempDir dir;
  test::writeFileAt(dir.file("f"), 0, "abc");
  UniqueFd fd(open(dir.file("f").c_str(), O_RDONLY | O_CLOEXEC));
  char buf[8];
  Status s = readAll(fd.get(), buf, sizeof buf, 0);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("offset 3"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace virtscratch
