// The Allocate spec: made from a <scratch:disk> (allocateSpecOf), written as a{sv} (toSpecMap)
// and read back (parseSpecMap), with every error naming the key and the bad value or type.
#include "vocabulary/allocate_spec.h"

#include <gtest/gtest.h>

#include <string>

#include "image/size.h"
#include "vocabulary/lifetime.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::vocabulary {
namespace {

using image::kGiB;
using image::kMiB;

void expectSame(const AllocateSpec& a, const AllocateSpec& b) {
  EXPECT_EQ(a.image.size, b.image.size);
  EXPECT_EQ(a.image.format, b.image.format);
  EXPECT_EQ(a.image.filesystem, b.image.filesystem);
  EXPECT_EQ(a.image.label, b.image.label);
  EXPECT_EQ(a.image.uuid, b.image.uuid);
  EXPECT_EQ(a.image.partition, b.image.partition);
  EXPECT_EQ(a.image.preallocation, b.image.preallocation);
  EXPECT_EQ(a.image.contentDir, b.image.contentDir);
  EXPECT_EQ(a.sizePerVcpu, b.sizePerVcpu);
  EXPECT_EQ(a.vcpus, b.vcpus);
  EXPECT_EQ(a.sizeGiven, b.sizeGiven);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.lifetime, b.lifetime);
  EXPECT_EQ(a.incoming, b.incoming);
}

std::string errorOf(const SpecMap& map) {
  auto parsed = parseSpecMap(map);
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return "(accepted)";
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
  return parsed.status().message();
}

TEST(Lifetime, NamesTheThreeLifetimesBothWays) {
  for (Lifetime l : {Lifetime::kBoot, Lifetime::kDomain, Lifetime::kManual}) {
    EXPECT_EQ(*parseLifetime(toString(l)), l);
  }
  EXPECT_EQ(toString(Lifetime::kDomain), "domain");
  auto bad = parseLifetime("Boot");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'Boot'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("boot, domain, manual"), std::string::npos);
}

TEST(AllocateSpecOf, TakesAFixedSizeAndEveryAttribute) {
  ScratchDisk disk;
  disk.target = "vdc";
  disk.size = 10 * kGiB;
  disk.format = image::ImageFormat::kRaw;
  disk.filesystem = image::Filesystem::kXfs;
  disk.label = "scratch";
  disk.partition = image::PartitionTable::kGpt;
  disk.lifetime = Lifetime::kManual;
  AllocateSpec spec = allocateSpecOf(disk, 4);
  EXPECT_EQ(spec.image.size, 10 * kGiB);
  EXPECT_TRUE(spec.sizeGiven);
  EXPECT_EQ(spec.sizePerVcpu, 0u);
  EXPECT_EQ(spec.vcpus, 0u);  // a fixed size does not depend on the vCPUs
  EXPECT_EQ(spec.image.format, image::ImageFormat::kRaw);
  EXPECT_EQ(spec.image.filesystem, image::Filesystem::kXfs);
  EXPECT_EQ(spec.image.label, "scratch");
  EXPECT_EQ(spec.image.partition, image::PartitionTable::kGpt);
  EXPECT_EQ(spec.target, "vdc");
  EXPECT_EQ(spec.lifetime, Lifetime::kManual);
  SpecMap map = toSpecMap(spec);
  EXPECT_EQ(std::get<uint64_t>(map.at("size")), 10 * kGiB);
  EXPECT_EQ(map.count("size-per-vcpu"), 0u);
  EXPECT_EQ(map.count("vcpus"), 0u);
}

TEST(AllocateSpecOf, LeavesSizePerVcpuToTheDaemonWithTheCount) {
  ScratchDisk disk;
  disk.sizePerVcpu = 5 * kGiB;
  AllocateSpec spec = allocateSpecOf(disk, 3);
  EXPECT_EQ(spec.image.size, 0u);
  EXPECT_FALSE(spec.sizeGiven);
  EXPECT_EQ(spec.sizePerVcpu, 5 * kGiB);
  EXPECT_EQ(spec.vcpus, 3u);
  EXPECT_EQ(spec.target, "vdb");
  EXPECT_EQ(spec.lifetime, Lifetime::kBoot);
  SpecMap map = toSpecMap(spec);
  EXPECT_EQ(map.count("size"), 0u);
  EXPECT_EQ(std::get<uint64_t>(map.at("size-per-vcpu")), 5 * kGiB);
  EXPECT_EQ(std::get<uint32_t>(map.at("vcpus")), 3u);
  EXPECT_EQ(std::get<std::string>(map.at("lifetime")), "boot");
}

TEST(SpecMap, RoundTripsEveryKey) {
  AllocateSpec full;
  full.image.size = 3 * kGiB;
  full.sizeGiven = true;
  full.image.format = image::ImageFormat::kRaw;
  full.image.filesystem = image::Filesystem::kVfat;
  full.image.label = "SCRATCH";
  full.image.uuid = "1234-ABCD";
  full.image.partition = image::PartitionTable::kMbr;
  full.image.preallocation = image::Preallocation::kFalloc;
  full.image.contentDir = "/srv/seed";
  full.target = "vdz9";
  full.lifetime = Lifetime::kDomain;
  full.incoming = true;
  auto back = parseSpecMap(toSpecMap(full));
  ASSERT_TRUE(back.ok()) << back.status().message();
  expectSame(*back, full);

  AllocateSpec perVcpu;
  perVcpu.sizePerVcpu = 512 * kMiB;
  perVcpu.vcpus = 8;
  back = parseSpecMap(toSpecMap(perVcpu));
  ASSERT_TRUE(back.ok()) << back.status().message();
  expectSame(*back, perVcpu);
  EXPECT_EQ(toSpecMap(perVcpu).count("incoming"), 0u) << "a key at its default is left out";

  // Both size and size-per-vcpu survive the trip, for the daemon to refuse by name.
  AllocateSpec both = perVcpu;
  both.sizeGiven = true;
  both.image.size = kGiB;
  back = parseSpecMap(toSpecMap(both));
  ASSERT_TRUE(back.ok()) << back.status().message();
  expectSame(*back, both);
}

TEST(SpecMap, RefusesAnUnknownKeyNamingIt) {
  std::string message = errorOf({{"colour", std::string("blue")}});
  EXPECT_NE(message.find("unknown spec key 'colour'"), std::string::npos) << message;
  EXPECT_NE(message.find(kAllocateKeys), std::string::npos) << message;
  // Also when its value has a type no key takes.
  message = wrongType("colour", "d").message();
  EXPECT_NE(message.find("unknown spec key 'colour'"), std::string::npos) << message;
}

TEST(SpecMap, RefusesAWrongTypeNamingBothTypes) {
  struct Case {
    SpecMap map;
    std::string message;
  };
  for (const Case& c : {
           Case{{{"size", std::string("1G")}},
                "spec key 'size' must be of type 't' (uint64), not 's'"},
           Case{{{"size-per-vcpu", uint32_t{1}}},
                "spec key 'size-per-vcpu' must be of type 't' (uint64), not 'u'"},
           Case{{{"vcpus", uint64_t{2}}}, "spec key 'vcpus' must be of type 'u' (uint32), not 't'"},
           Case{{{"target", true}}, "spec key 'target' must be of type 's' (string), not 'b'"},
           Case{{{"format", uint64_t{1}}},
                "spec key 'format' must be of type 's' (string), not 't'"},
           Case{{{"lifetime", uint32_t{1}}},
                "spec key 'lifetime' must be of type 's' (string), not 'u'"},
           Case{{{"content", false}}, "spec key 'content' must be of type 's' (string), not 'b'"},
           Case{{{"incoming", std::string("yes")}},
                "spec key 'incoming' must be of type 'b' (boolean), not 's'"},
       }) {
    std::string message = errorOf(c.map);
    EXPECT_NE(message.find(c.message), std::string::npos) << message;
  }
  // A type the bus layer cannot even hold in a SpecValue, named by its signature.
  EXPECT_EQ(wrongType("size", "d").message(),
            "spec key 'size' must be of type 't' (uint64), not 'd'");
}

TEST(SpecMap, RefusesBadNamesNamingTheKeyAndTheValue) {
  for (const auto& [key, value] : std::initializer_list<std::pair<const char*, const char*>>{
           {"format", "qcow3"},
           {"filesystem", "ntfs"},
           {"partition", "bsd"},
           {"preallocation", "some"},
           {"lifetime", "forever"},
       }) {
    std::string message = errorOf({{key, std::string(value)}});
    EXPECT_NE(message.find("spec key '" + std::string(key) + "'"), std::string::npos) << message;
    EXPECT_NE(message.find("'" + std::string(value) + "'"), std::string::npos) << message;
  }
  std::string message = errorOf({{"content", std::string()}});
  EXPECT_NE(message.find("spec key 'content' is empty"), std::string::npos) << message;
}

TEST(SpecMap, NamesSignaturesAndTypes) {
  EXPECT_EQ(signatureOf(SpecValue(uint64_t{1})), "t");
  EXPECT_EQ(signatureOf(SpecValue(uint32_t{1})), "u");
  EXPECT_EQ(signatureOf(SpecValue(std::string())), "s");
  EXPECT_EQ(signatureOf(SpecValue(true)), "b");
  EXPECT_EQ(keySignature("size"), "t");
  EXPECT_EQ(keySignature("vcpus"), "u");
  EXPECT_EQ(keySignature("label"), "s");
  EXPECT_EQ(keySignature("colour"), "");
  EXPECT_EQ(typeNameOf("b"), "boolean");
}

}  // namespace
}  // namespace virtscratch::vocabulary
