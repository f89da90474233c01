#include "image/spec.h"

#include <gtest/gtest.h>

#include "image/size.h"

namespace virtscratch::image {
namespace {

TEST(SpecNames, RoundTripEveryKnownName) {
  for (const char* n : {"raw", "qcow2"}) EXPECT_EQ(toString(*parseImageFormat(n)), n);
  for (const char* n : {"none", "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "swap"}) {
    EXPECT_EQ(toString(*parseFilesystem(n)), n);
  }
  for (const char* n : {"none", "mbr", "gpt"}) EXPECT_EQ(toString(*parsePartitionTable(n)), n);
  for (const char* n : {"off", "metadata", "falloc", "full"}) {
    EXPECT_EQ(toString(*parsePreallocation(n)), n);
  }
}

TEST(SpecNames, RejectUnknownNamesListingTheKnownOnes) {
  auto r = parseFilesystem("ntfs");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "unknown filesystem 'ntfs' (choose one of: none, ext2, ext3, ext4, xfs, btrfs, vfat, "
            "swap)");
  EXPECT_FALSE(parseImageFormat("vmdk").ok());
  EXPECT_FALSE(parseImageFormat("QCOW2").ok());
  EXPECT_FALSE(parsePartitionTable("dos").ok());
  EXPECT_FALSE(parsePreallocation("sparse").ok());
}

TEST(SpecValidation, RejectsMetadataPreallocationForRaw) {
  ImageSpec spec;
  spec.size = kGiB;
  spec.format = ImageFormat::kRaw;
  spec.preallocation = Preallocation::kMetadata;
  Status s = validateSpec(spec, kDefaultMaxImageSize);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("metadata"), std::string::npos);
  spec.format = ImageFormat::kQcow2;
  EXPECT_TRUE(validateSpec(spec, kDefaultMaxImageSize).ok());
}

TEST(SpecValidation, RejectsMbrOnDisksPastTwoTebibytes) {
  ImageSpec spec;
  spec.size = 3 * kTiB;
  spec.partition = PartitionTable::kMbr;
  Status s = validateSpec(spec, kDefaultMaxImageSize);
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find("--partition gpt"), std::string::npos);
  spec.size = 2 * kTiB;
  EXPECT_TRUE(validateSpec(spec, kDefaultMaxImageSize).ok());
}

TEST(SpecValidation, RejectsContentWithoutAFilesystemThatHoldsFiles) {
  ImageSpec spec;
  spec.size = kGiB;
  spec.contentDir = "/etc";
  spec.filesystem = Filesystem::kSwap;
  EXPECT_EQ(validateSpec(spec, kDefaultMaxImageSize).code(), ErrorCode::kInvalidArgument);
  spec.filesystem = Filesystem::kNone;
  EXPECT_EQ(validateSpec(spec, kDefaultMaxImageSize).code(), ErrorCode::kInvalidArgument);
}

TEST(SpecValidation, RejectsMissingAndOversizedSizes) {
  ImageSpec spec;
  EXPECT_EQ(validateSpec(spec, kDefaultMaxImageSize).code(), ErrorCode::kInvalidArgument);
  spec.size = 2 * kGiB;
  EXPECT_EQ(validateSpec(spec, kGiB).code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace virtscratch::image
