// Writing the metadata back and reading it again: by hand, and through libvirt itself (virsh on
// the in-process test driver) as `virt-scratch enable` stores it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "image/size.h"
#include "tests/support/test_util.h"
#include "vocabulary/disk_sources.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::vocabulary {
namespace {

std::vector<ScratchDisk> sampleDisks() {
  ScratchDisk a;
  a.target = "vdb";
  a.size = 10 * image::kGiB;
  a.format = image::ImageFormat::kRaw;
  a.filesystem = image::Filesystem::kXfs;
  a.label = "a&b<'\">";  // every character that needs escaping
  a.filesystem = image::Filesystem::kBtrfs;
  a.partition = image::PartitionTable::kGpt;
  a.lifetime = Lifetime::kDomain;
  ScratchDisk b;
  b.target = "vdc1";
  b.sizePerVcpu = 1536 * image::kMiB;
  b.filesystem = image::Filesystem::kSwap;
  b.attach = Attach::kHotplug;
  b.lifetime = Lifetime::kManual;
  ScratchDisk c;
  c.target = "vdd";
  c.size = 12345;
  return {a, b, c};
}

void expectSame(const std::vector<ScratchDisk>& want, const std::vector<ScratchDisk>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].target, got[i].target);
    EXPECT_EQ(want[i].size, got[i].size);
    EXPECT_EQ(want[i].sizePerVcpu, got[i].sizePerVcpu);
    EXPECT_EQ(want[i].format, got[i].format);
    EXPECT_EQ(want[i].filesystem, got[i].filesystem);
    EXPECT_EQ(want[i].label, got[i].label);
    EXPECT_EQ(want[i].partition, got[i].partition);
    EXPECT_EQ(want[i].lifetime, got[i].lifetime);
    EXPECT_EQ(want[i].attach, got[i].attach);
  }
}

TEST(MetadataXml, ReadsBackWhatItWrites) {
  std::vector<ScratchDisk> disks = sampleDisks();
  std::string element = metadataXml(disks);
  ASSERT_TRUE(element.starts_with("<disks>")) << element;
  // As libvirt stores it: the namespace put on the unprefixed elements.
  element.insert(6, " xmlns='http://virtscratch.org/xmlns/scratch/1.0'");
  auto parsed = parseDomainXml(
      "<domain><name>a</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid><metadata>" +
      element + "</metadata></domain>");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << element;
  expectSame(disks, parsed->disks);
}

TEST(MetadataXml, WritesSizesAsPeopleWriteThem) {
  std::string element = metadataXml(sampleDisks());
  EXPECT_NE(element.find("size='10G'"), std::string::npos) << element;
  EXPECT_NE(element.find("size-per-vcpu='1536M'"), std::string::npos) << element;
  EXPECT_NE(element.find("size='12345'"), std::string::npos) << element;
  EXPECT_EQ(metadataXml({}), "<disks></disks>");
}

TEST(MetadataXml, SurvivesLibvirtsSetMetadataAndDumpxml) {
  if (test::run({"sh", "-c", "command -v virsh"}).exitCode != 0) {
    GTEST_SKIP() << "virsh (libvirt-clients) is not installed";
  }
  std::vector<ScratchDisk> disks = sampleDisks();
  // The test driver lives inside this one virsh process: set, then dump, in one run.
  auto result = test::run({"virsh", "-q", "-c", "test:///default",
                           "metadata test --uri http://virtscratch.org/xmlns/scratch/1.0 "
                           "--key scratch --set \"" +
                               [&] {
                                 std::string quoted;
                                 for (char c : metadataXml(disks)) {
                                   if (c == '"' || c == '\\') quoted += '\\';
                                   quoted += c;
                                 }
                                 return quoted;
                               }() +
                               "\"; dumpxml test"});
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_NE(result.out.find("<scratch:disks xmlns:scratch="), std::string::npos) << result.out;
  auto parsed = parseDomainXml(result.out);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message() << "\n" << result.out;
  expectSame(disks, parsed->disks);
  EXPECT_EQ(parsed->name, "test");
  EXPECT_EQ(parsed->vcpus, 2u);
}

TEST(DiskSources, MapsTargetsToTheirFilesOrDevices) {
  auto sources = diskSources(R"(<domain><name>a</name><devices>
    <disk type='file' device='disk'><source file='/pool/u/vdb.qcow2'/><target dev='vdb'/></disk>
    <disk type='block' device='disk'><source dev='/dev/sdz'/><target dev='vdc' bus='virtio'/></disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
    <interface type='network'><source network='default'/></interface>
  </devices></domain>)");
  ASSERT_TRUE(sources.ok()) << sources.status().message();
  EXPECT_EQ(sources->size(), 3u);
  EXPECT_EQ(sources->at("vdb"), "/pool/u/vdb.qcow2");
  EXPECT_EQ(sources->at("vdc"), "/dev/sdz");
  EXPECT_EQ(sources->at("sda"), "");
  auto none = diskSources("<domain><name>a</name></domain>");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace virtscratch::vocabulary
