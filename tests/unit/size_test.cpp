#include "image/size.h"

#include <gtest/gtest.h>

namespace virtscratch::image {
namespace {

TEST(SizeParser, ReadsPlainBytesAndIecSuffixesAsQemuImgDoes) {
  EXPECT_EQ(*parseSize("1073741824"), 1073741824u);
  EXPECT_EQ(*parseSize("512"), 512u);
  EXPECT_EQ(*parseSize("512B"), 512u);
  EXPECT_EQ(*parseSize("1k"), 1024u);
  EXPECT_EQ(*parseSize("512M"), 512 * kMiB);
  EXPECT_EQ(*parseSize("10G"), 10 * kGiB);
  EXPECT_EQ(*parseSize("1T"), kTiB);
  EXPECT_EQ(*parseSize("1.5G"), kGiB + kGiB / 2);
  EXPECT_EQ(*parseSize("64T"), 64 * kTiB);
}

TEST(SizeParser, RejectsZeroNegativeMalformedAndEmptySizesNamingThem) {
  for (const char* bad : {"0", "0G", "-1", "-5G", "", "G", "ten", "10GB", "10 G", "1.G", "1.5",
                          "10X", " 10G", "0x10"}) {
    auto r = parseSize(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("'" + std::string(bad) + "'"), std::string::npos)
        << r.status().message();
  }
}

TEST(SizeParser, RejectsOverflowingSizes) {
  for (const char* bad :
       {"18446744073709551616", "99999999999999999999999", "16E", "17179869184G"}) {
    auto r = parseSize(bad, UINT64_MAX);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("too large"), std::string::npos) << r.status().message();
  }
}

TEST(SizeParser, RejectsSizesPastTheLimit) {
  auto r = parseSize("65T");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'65T'"), std::string::npos);
  EXPECT_NE(r.status().message().find("64 TiB"), std::string::npos);
  EXPECT_TRUE(parseSize("2G", 2 * kGiB).ok());
  EXPECT_FALSE(parseSize("2049M", 2 * kGiB).ok());
}

TEST(SizeFormatter, WritesSizesForPeople) {
  EXPECT_EQ(formatSize(512), "512 B");
  EXPECT_EQ(formatSize(10 * kGiB), "10 GiB");
  EXPECT_EQ(formatSize(kGiB + kGiB / 2), "1.5 GiB");
  EXPECT_EQ(formatSize(64 * kTiB), "64 TiB");
}

}  // namespace
}  // namespace virtscratch::image
