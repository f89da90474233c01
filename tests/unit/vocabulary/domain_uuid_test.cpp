// Domain UUIDs and the image ids made of them.
#include "vocabulary/domain_uuid.h"

#include <gtest/gtest.h>

#include "vocabulary/image_id.h"

namespace virtscratch::vocabulary {
namespace {

constexpr char kLower[] = "6f1b2c3d-0000-4000-8000-00000000abcd";
constexpr char kUpper[] = "6F1B2C3D-0000-4000-8000-00000000ABCD";

TEST(DomainUuid, KnowsTheFormLibvirtWrites) {
  EXPECT_TRUE(isUuid(kLower));
  EXPECT_TRUE(isUuid(kUpper));
  EXPECT_FALSE(isUuid(""));
  EXPECT_FALSE(isUuid("6f1b2c3d00004000800000000000abcd"));       // no dashes
  EXPECT_FALSE(isUuid("6f1b2c3d-0000-4000-8000-00000000abcg"));   // g
  EXPECT_FALSE(isUuid("6f1b2c3d-0000-4000-8000-00000000abc"));    // one short
  EXPECT_FALSE(isUuid("6f1b2c3d-0000-4000-8000-00000000abcde"));  // one long
  EXPECT_FALSE(isUuid("6f1b2c3d0-000-4000-8000-00000000abcd"));   // a dash moved
  EXPECT_FALSE(isUuid("../../etc/passwd/../../../../../../..a"));
}

TEST(DomainUuid, NormalisesToLowerCase) {
  EXPECT_EQ(normaliseUuid(kUpper), kLower);
  EXPECT_EQ(normaliseUuid(kLower), kLower);
  EXPECT_TRUE(isNormalisedUuid(kLower));
  EXPECT_FALSE(isNormalisedUuid(kUpper));
  EXPECT_FALSE(isNormalisedUuid("web"));
}

TEST(ImageId, IsTheUuidWithoutDashesAndTheTarget) {
  EXPECT_EQ(imageIdOf(kLower, "vdb"), "6f1b2c3d00004000800000000000abcd_vdb");
  EXPECT_EQ(imageIdOf(kLower, "sda1"), "6f1b2c3d00004000800000000000abcd_sda1");
  // Only [a-z0-9_]: the last element of an object path.
  for (char c : imageIdOf(kLower, "vdb")) {
    EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') << c;
  }
}

}  // namespace
}  // namespace virtscratch::vocabulary
