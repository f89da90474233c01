// The vocabulary of discard: the "discard" spec key, the metadata attribute with libvirt's words,
// what a disk gets (discardOf) and the driver attributes of the disk XML.
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/vocabulary/one_disk_domain.h"
#include "vocabulary/allocate_spec.h"
#include "vocabulary/discard.h"
#include "vocabulary/disk_xml.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::vocabulary {
namespace {

using test::domainWith;

TEST(DiscardSpecKey, IsABooleanLeftOutUnlessGiven) {
  auto spec = parseSpecMap({{"size", uint64_t{1} << 30}, {"discard", false}});
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  ASSERT_TRUE(spec->discard.has_value());
  EXPECT_FALSE(*spec->discard);
  EXPECT_FALSE(std::get<bool>(toSpecMap(*spec).at("discard")));

  auto silent = parseSpecMap({{"size", uint64_t{1} << 30}});
  ASSERT_TRUE(silent.ok());
  EXPECT_FALSE(silent->discard.has_value());
  EXPECT_EQ(toSpecMap(*silent).count("discard"), 0u) << "the daemon's default must decide";

  auto wrongType = parseSpecMap({{"discard", std::string("unmap")}});
  ASSERT_FALSE(wrongType.ok());
  EXPECT_NE(wrongType.status().message().find("'discard' must be of type 'b' (boolean), not 's'"),
            std::string::npos)
      << wrongType.status().message();
  EXPECT_NE(std::string(kAllocateKeys).find("discard"), std::string::npos);
}

TEST(DiscardMetadata, ReadsLibvirtsWordsWritesThemBackAndNamesABadValue) {
  for (const auto& [word, on] : {std::pair{"unmap", true}, std::pair{"ignore", false}}) {
    auto scratch = parseDomainXml(domainWith(std::string("discard='") + word + "'"));
    ASSERT_TRUE(scratch.ok()) << scratch.status().message();
    ASSERT_EQ(scratch->disks.size(), 1u);
    EXPECT_EQ(scratch->disks[0].discard, std::optional<bool>(on)) << word;
    EXPECT_NE(metadataXml(scratch->disks).find(std::string("discard='") + word + "'"),
              std::string::npos);
    EXPECT_EQ(allocateSpecOf(scratch->disks[0], 1).discard, std::optional<bool>(on)) << word;
  }
  auto silent = parseDomainXml(domainWith(""));
  ASSERT_TRUE(silent.ok()) << silent.status().message();
  EXPECT_FALSE(silent->disks[0].discard.has_value());
  EXPECT_EQ(metadataXml(silent->disks).find("discard"), std::string::npos);
  EXPECT_FALSE(allocateSpecOf(silent->disks[0], 1).discard.has_value());

  auto bad = parseDomainXml(domainWith("discard='on'"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("discard='on'"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("unmap, ignore"), std::string::npos)
      << bad.status().message();
}

TEST(DiscardMetadata, TheUnknownAttributeMessageListsEveryKnownOne) {
  auto bad = parseDomainXml(domainWith("trim='yes'"));
  ASSERT_FALSE(bad.ok());
  for (const char* known : {"encryption", "discard", "attach"}) {
    EXPECT_NE(bad.status().message().find(known), std::string::npos) << bad.status().message();
  }
}

TEST(DiscardOf, PreallocationTurnsItOffElseTheAskedElseTheHostsDefault) {
  using image::Preallocation;
  EXPECT_TRUE(discardOf(std::nullopt, true, Preallocation::kOff));
  EXPECT_FALSE(discardOf(std::nullopt, false, Preallocation::kOff));
  EXPECT_TRUE(discardOf(true, false, Preallocation::kOff));
  EXPECT_FALSE(discardOf(false, true, Preallocation::kOff));
  for (Preallocation p : {Preallocation::kMetadata, Preallocation::kFalloc, Preallocation::kFull}) {
    EXPECT_FALSE(discardOf(std::nullopt, true, p));
    EXPECT_FALSE(discardOf(true, true, p));
  }
}

TEST(DiscardDiskXml, PutsBothAttributesOnTheDriverOnlyWhenAsked) {
  std::string on = diskXml("/pool/u/vdb.raw", image::ImageFormat::kRaw, "vdb", Attach::kHotplug,
                           {.discard = true, .secretUuid = {}});
  EXPECT_EQ(on,
            "<disk type='file' device='disk'><driver name='qemu' type='raw' discard='unmap' "
            "detect_zeroes='unmap'/><source file='/pool/u/vdb.raw'/>"
            "<target dev='vdb' bus='virtio'/><serial>scratch-vdb</serial></disk>");
  std::string off = diskXml("/pool/u/vdb.raw", image::ImageFormat::kRaw, "vdb", Attach::kHotplug);
  EXPECT_EQ(off.find("discard"), std::string::npos) << off;
  EXPECT_EQ(off.find("detect_zeroes"), std::string::npos) << off;
}

}  // namespace
}  // namespace virtscratch::vocabulary
