// LUKS volumes read back: the master key makeLuksVolume wrote comes back with its passphrase and
// with no other; headers that do not hold together are refused, naming the field. Raw LUKS images
// written by writeRawLuks read back, through openRawLuksView, as the guest bytes they were made
// from, at any offset, with holes as holes. That QEMU opens these images, and that these readers
// open QEMU's, is checked with qemu-img in tests/integration/cli_encrypt_test.cpp.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "image/luks_header.h"
#include "image/luks_raw_view.h"
#include "image/luks_raw_writer.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

// The volume as it lies on disk, from its start to its payload.
std::vector<uint8_t> headOf(const LuksVolume& v) {
  std::vector<uint8_t> head(v.payloadOffset, 0);
  std::copy(v.header.begin(), v.header.end(), head.begin());
  std::copy(v.material.begin(), v.material.end(),
            head.begin() + static_cast<ptrdiff_t>(v.materialOffset));
  return head;
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

TEST(LuksVolume, OpensWithItsPassphraseToTheMasterKeyItWasMadeWith) {
  auto v = makeLuksVolume("a passphrase");
  ASSERT_TRUE(v.ok()) << v.status().message();
  auto opened = openLuksVolume(headOf(*v), "a passphrase");
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  EXPECT_EQ(opened->masterKey, v->masterKey);
  EXPECT_EQ(opened->payloadOffset, kLuksPayloadOffset);
}

TEST(LuksVolume, OpensWithNoOtherPassphrase) {
  auto v = makeLuksVolume("a passphrase");
  ASSERT_TRUE(v.ok());
  for (const char* other : {"a passphrase ", "A passphrase", "x"}) {
    auto opened = openLuksVolume(headOf(*v), other);
    ASSERT_FALSE(opened.ok()) << other;
    EXPECT_EQ(opened.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(opened.status().message().find("not this image's key"), std::string::npos);
  }
}

struct Damage {
  const char* name;
  void (*apply)(std::vector<uint8_t>& head);
  const char* message;  // a part of the error
};

class DamagedLuksHeader : public ::testing::TestWithParam<Damage> {};

TEST_P(DamagedLuksHeader, IsRefusedNamingWhatIsWrong) {
  auto v = makeLuksVolume("a passphrase");
  ASSERT_TRUE(v.ok());
  std::vector<uint8_t> head = headOf(*v);
  GetParam().apply(head);
  auto opened = openLuksVolume(head, "a passphrase");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().code(), ErrorCode::kFailed);
  EXPECT_NE(opened.status().message().find(GetParam().message), std::string::npos)
      << opened.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Headers, DamagedLuksHeader,
    ::testing::Values(
        Damage{"Magic", [](std::vector<uint8_t>& h) { h[0] = 'X'; }, "no LUKS header"},
        Damage{"Version", [](std::vector<uint8_t>& h) { h[7] = 2; }, "not version 1"},
        Damage{"PayloadFarAway", [](std::vector<uint8_t>& h) { put32(h, 104, 0x7fffffff); },
               "payload offset"},
        Damage{"CutShort", [](std::vector<uint8_t>& h) { h.resize(h.size() / 2); }, "cut short"},
        Damage{"Cipher", [](std::vector<uint8_t>& h) { std::copy_n("serpent", 8, h.begin() + 8); },
               "serpent"},
        Damage{"Stripes", [](std::vector<uint8_t>& h) { put32(h, 208 + 44, 3999); },
               "does not hold together"},
        Damage{"MaterialPastThePayload", [](std::vector<uint8_t>& h) { put32(h, 208 + 40, 4090); },
               "does not hold together"},
        Damage{"SlotIterations", [](std::vector<uint8_t>& h) { put32(h, 208 + 4, 0xffffffff); },
               "does not hold together"},
        Damage{"DigestIterations", [](std::vector<uint8_t>& h) { put32(h, 164, 0); },
               "iterations"}),
    [](const auto& param) { return std::string(param.param.name); });

TEST(RawLuksImage, ReadsBackItsGuestBytesAtAnyOffsetWithHolesAsHoles) {
  test::TempDir dir;
  constexpr uint64_t kSize = 8 * 1024 * 1024;
  // The plaintext: two data extents, one at the start, one across a 1 MiB boundary.
  std::string plainPath = dir.file("plain.raw");
  test::writeFileAt(plainPath, 0, test::patternBytes(64 * 1024, 1));
  test::writeFileAt(plainPath, 3 * 1024 * 1024 - 8192, test::patternBytes(20 * 1024, 2));
  ASSERT_EQ(truncate(plainPath.c_str(), kSize), 0);
  UniqueFd plain(open(plainPath.c_str(), O_RDONLY | O_CLOEXEC));
  auto extents = dataExtents(plain.get(), 0, kSize);
  ASSERT_TRUE(extents.ok());
  std::vector<SourceExtent> sources;
  for (const Extent& e : *extents) sources.push_back({e.offset, e.length, plain.get(), e.offset});

  auto v = makeLuksVolume("a passphrase");
  ASSERT_TRUE(v.ok());
  std::string imagePath = dir.file("image.luks");
  UniqueFd image(open(imagePath.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(writeRawLuks(image.get(), *v, kSize, sources, nullptr).ok());
  EXPECT_EQ(test::readFile(imagePath).find(test::patternBytes(4096, 1)), std::string::npos)
      << "the plaintext is in the image";

  auto view = openRawLuksView(UniqueFd(open(imagePath.c_str(), O_RDONLY | O_CLOEXEC)), imagePath,
                              "a passphrase");
  ASSERT_TRUE(view.ok()) << view.status().message();
  EXPECT_EQ((*view)->virtualSize(), kSize);
  auto seen = (*view)->dataExtents();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(*seen, *extents);
  const std::string expected = test::readFile(plainPath);
  for (uint64_t offset : {uint64_t{0}, uint64_t{1}, uint64_t{511}, uint64_t{65000},
                          uint64_t{3 * 1024 * 1024 - 9000}, kSize - 700}) {
    for (uint64_t length : {uint64_t{1}, uint64_t{700}, uint64_t{70000}}) {
      if (offset + length > kSize) continue;
      std::vector<uint8_t> out(length);
      ASSERT_TRUE((*view)->read(offset, out).ok()) << offset << "+" << length;
      EXPECT_EQ(std::string(out.begin(), out.end()), expected.substr(offset, length))
          << offset << "+" << length;
    }
  }
  auto wrong = openRawLuksView(UniqueFd(open(imagePath.c_str(), O_RDONLY | O_CLOEXEC)), imagePath,
                               "another");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find(imagePath), std::string::npos);
}

}  // namespace
}  // namespace virtscratch::image
