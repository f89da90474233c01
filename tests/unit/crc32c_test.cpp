#include "image/crc32c.h"

#include <gtest/gtest.h>

#include <string_view>

namespace virtscratch::image {
namespace {

std::span<const uint8_t> bytesOf(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// The check value of CRC-32C (RFC 3720's iSCSI CRC): "123456789" with the usual inversions.
TEST(Crc32c, GivesTheCheckValueOfTheCastagnoliPolynomial) {
  EXPECT_EQ(crc32c(0xFFFFFFFFu, bytesOf("123456789")) ^ 0xFFFFFFFFu, 0xE3069283u);
}

TEST(Crc32c, ContinuesFromWhereAnEarlierPartEnded) {
  uint32_t whole = crc32c(0xFFFFFFFFu, bytesOf("superblock bytes"));
  uint32_t parts = crc32c(crc32c(0xFFFFFFFFu, bytesOf("superblock")), bytesOf(" bytes"));
  EXPECT_EQ(parts, whole);
}

}  // namespace
}  // namespace virtscratch::image
