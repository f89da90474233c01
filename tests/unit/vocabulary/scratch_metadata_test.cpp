#include "vocabulary/scratch_metadata.h"

#include <gtest/gtest.h>

#include <string>

#include "image/size.h"

namespace virtscratch::vocabulary {
namespace {

using image::kGiB;
using image::kMiB;

constexpr char kUuid[] = "6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f";

// A domain definition as `virsh dumpxml` writes it, with `metadata` inside <metadata>.
std::string domainXml(const std::string& metadata,
                      const std::string& vcpu = "<vcpu placement='static'>2</vcpu>") {
  return R"(<domain type='qemu' id='3'>
  <name>build-01</name>
  <uuid>)" +
         std::string(kUuid) + R"(</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
)" + metadata +
         R"(
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:name>build-01</nova:name>
    </nova:instance>
  </metadata>
  <memory unit='KiB'>65536</memory>
  )" + vcpu +
         R"(
  <os><type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type><boot dev='hd'/></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/virt-scratch/pool/6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f/vdb.qcow2'/>
      <target dev='vdb' bus='virtio'/>
      <serial>scratch-vdb</serial>
    </disk>
  </devices>
</domain>
)";
}

std::string disks(const std::string& inner, const std::string& prefix = "scratch") {
  return "<" + prefix + ":disks xmlns:" + prefix +
         "=\"http://virtscratch.org/xmlns/scratch/1.0\">" + inner + "</" + prefix + ":disks>";
}

std::string disk(const std::string& attributes, const std::string& prefix = "scratch") {
  return "<" + prefix + ":disk " + attributes + "/>";
}

Status parseError(const std::string& xml) {
  auto parsed = parseDomainXml(xml);
  EXPECT_FALSE(parsed.ok()) << xml;
  return parsed.ok() ? Status() : parsed.status();
}

TEST(ScratchMetadata, ReadsADumpxmlDefinitionAmongOtherMetadataNamespaces) {
  auto parsed = parseDomainXml(domainXml(disks(
      disk("target='vdb' size='10G' format='raw' filesystem='xfs' label='scratch' partition='gpt' "
           "lifetime='domain' attach='boot'"))));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->uuid, kUuid);
  EXPECT_EQ(parsed->name, "build-01");
  EXPECT_EQ(parsed->vcpus, 2u);
  ASSERT_EQ(parsed->disks.size(), 1u);
  const ScratchDisk& d = parsed->disks[0];
  EXPECT_EQ(d.target, "vdb");
  EXPECT_EQ(d.size, 10 * kGiB);
  EXPECT_EQ(d.sizePerVcpu, 0u);
  EXPECT_EQ(d.format, image::ImageFormat::kRaw);
  EXPECT_EQ(d.filesystem, image::Filesystem::kXfs);
  EXPECT_EQ(d.label, "scratch");
  EXPECT_EQ(d.partition, image::PartitionTable::kGpt);
  EXPECT_EQ(d.lifetime, Lifetime::kDomain);
  EXPECT_EQ(d.attach, Attach::kBoot);
}

TEST(ScratchMetadata, FindsTheElementByNamespaceWhateverItsPrefix) {
  auto parsed = parseDomainXml(domainXml(disks(disk("size='1G'", "vs"), "vs")));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->disks.size(), 1u);
  // The same names in another namespace are not ours.
  auto other = parseDomainXml(
      domainXml("<scratch:disks xmlns:scratch='http://example.org/other'><scratch:disk size='x'/>"
                "</scratch:disks>"));
  ASSERT_TRUE(other.ok()) << other.status().message();
  EXPECT_TRUE(other->disks.empty());
}

TEST(ScratchMetadata, GivesDefaultsForEverythingButTheSize) {
  auto parsed = parseDomainXml(domainXml(disks(disk("size-per-vcpu='5G'"))));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  const ScratchDisk& d = parsed->disks.at(0);
  EXPECT_EQ(d.target, "vdb");
  EXPECT_EQ(d.sizePerVcpu, 5 * kGiB);
  EXPECT_EQ(d.format, image::ImageFormat::kQcow2);
  EXPECT_EQ(d.filesystem, image::Filesystem::kExt4);
  EXPECT_EQ(d.partition, image::PartitionTable::kNone);
  EXPECT_EQ(d.lifetime, Lifetime::kBoot);
  EXPECT_EQ(d.attach, Attach::kBoot);
  EXPECT_TRUE(d.label.empty());
}

TEST(ScratchMetadata, ReadsSeveralDisksInOrder) {
  auto parsed = parseDomainXml(domainXml(
      disks(disk("target='vdb' size='1G'") + disk("target='vdc' size='2G' attach='hotplug'") +
            "<!-- swap --> " + disk("target='vdd' size='512M' filesystem='swap'"))));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->disks.size(), 3u);
  EXPECT_EQ(parsed->disks[1].target, "vdc");
  EXPECT_EQ(parsed->disks[1].attach, Attach::kHotplug);
  EXPECT_EQ(parsed->disks[2].size, 512 * kMiB);
}

TEST(ScratchMetadata, ReadsADomainWithoutScratchDisks) {
  auto parsed = parseDomainXml(domainXml(""));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_TRUE(parsed->disks.empty());
  auto bare =
      parseDomainXml("<domain><name>a</name><uuid>" + std::string(kUuid) + "</uuid></domain>");
  ASSERT_TRUE(bare.ok()) << bare.status().message();
  EXPECT_EQ(bare->vcpus, 1u);
}

TEST(ScratchMetadata, TakesTheVcpuMaximumNotTheCurrentCount) {
  auto parsed = parseDomainXml(domainXml(disks(disk("size-per-vcpu='1G'")),
                                         "<vcpu placement='static' current='2'>4</vcpu>"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->vcpus, 4u);
}

TEST(ScratchMetadata, LowersTheUuidsCase) {
  auto parsed = parseDomainXml(
      "<domain><name>a</name><uuid>6F2B3C1E-0D4A-4E5B-9C7D-1A2B3C4D5E6F"
      "</uuid></domain>");
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->uuid, kUuid);
}

TEST(ScratchMetadata, RefusesEveryBadAttributeNamingItAndItsValue) {
  struct Case {
    const char* attributes;
    const char* expected;  // in the message
  };
  for (const Case& c : std::initializer_list<Case>{
           {"size='10X'", "size='10X'"},
           {"size='0'", "size='0'"},
           {"size='65T'", "size='65T'"},
           {"size-per-vcpu='-1G'", "size-per-vcpu='-1G'"},
           {"size='1G' format='qcow3'", "format='qcow3'"},
           {"size='1G' filesystem='ntfs'", "filesystem='ntfs'"},
           {"size='1G' partition='bsd'", "partition='bsd'"},
           {"size='1G' lifetime='forever'", "lifetime='forever'"},
           {"size='1G' attach='later'", "attach='later'"},
           {"size='1G' target='VDB'", "target='VDB'"},
           {"size='1G' target='1db'", "target='1db'"},
           {"size='1G' target='vd-b'", "target='vd-b'"},
           {"size='1G' target=''", "target=''"},
           {"size='1G' target='vdabcdefghijklmno'", "target='vdabcdefghijklmno'"},
           {"size='1G' label='much-too-long-for-ext4'", "label='much-too-long-for-ext4'"},
           {"size='1G' filesystem='vfat' label='a*b'", "label='a*b'"},
           {"size='1G' filesystem='none' label='x'", "label='x'"},
           {"size='1G' colour='blue'", "colour='blue'"},
           {"size='1G' uuid='6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f'", "uuid="},
           {"size='1G' xmlns:x='urn:x' x:size='2G'", "x:size='2G'"},
           {"size='1G' size-per-vcpu='1G'", "both size and size-per-vcpu"},
           {"format='raw'", "neither size nor size-per-vcpu"},
       }) {
    Status s = parseError(domainXml(disks(disk(c.attributes))));
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << c.attributes;
    EXPECT_NE(s.message().find(c.expected), std::string::npos)
        << c.attributes << " -> " << s.message();
  }
}

TEST(ScratchMetadata, RefusesTwoDisksWithOneTarget) {
  Status s = parseError(domainXml(disks(disk("size='1G'") + disk("target='vdb' size='2G'"))));
  EXPECT_NE(s.message().find("target='vdb'"), std::string::npos) << s.message();
}

TEST(ScratchMetadata, RefusesStrangeElementsAndText) {
  EXPECT_NE(
      parseError(domainXml(disks("<scratch:volume size='1G'/>"))).message().find("scratch:volume"),
      std::string::npos);
  EXPECT_NE(parseError(domainXml(disks("<disk size='1G'/>"))).message().find("<disk>"),
            std::string::npos);
  EXPECT_NE(parseError(domainXml(disks("10G"))).message().find("text"), std::string::npos);
  EXPECT_NE(parseError(domainXml("<scratch:disk xmlns:scratch='http://virtscratch.org/xmlns/"
                                 "scratch/1.0' size='1G'/>"))
                .message()
                .find("scratch:disk"),
            std::string::npos);
  EXPECT_NE(parseError(domainXml(disks(disk("size='1G'")) + disks(disk("target='vdc' size='1G'"))))
                .message()
                .find("more than one"),
            std::string::npos);
}

TEST(ScratchMetadata, RefusesDefinitionsWithoutIdentityOrWithABadVcpuCount) {
  EXPECT_NE(parseError("<domain><name>a</name></domain>").message().find("<uuid>"),
            std::string::npos);
  EXPECT_NE(parseError("<domain><uuid>" + std::string(kUuid) + "</uuid></domain>")
                .message()
                .find("<name>"),
            std::string::npos);
  EXPECT_NE(parseError("<domain><name>a</name><uuid>not-a-uuid</uuid></domain>")
                .message()
                .find("not-a-uuid"),
            std::string::npos);
  for (const char* vcpu :
       {"<vcpu>0</vcpu>", "<vcpu>two</vcpu>", "<vcpu>-1</vcpu>", "<vcpu>99999999999</vcpu>"}) {
    Status s = parseError(domainXml("", vcpu));
    EXPECT_NE(s.message().find("<vcpu>"), std::string::npos) << vcpu << " -> " << s.message();
  }
  EXPECT_NE(parseError("<network><name>a</name></network>").message().find("<network>"),
            std::string::npos);
}

TEST(ScratchMetadata, SizesDisksByTheVcpuCount) {
  ScratchDisk fixed;
  fixed.size = 10 * kGiB;
  EXPECT_EQ(*diskSize(fixed, 8), 10 * kGiB);
  ScratchDisk perVcpu;
  perVcpu.sizePerVcpu = 5 * kGiB;
  EXPECT_EQ(*diskSize(perVcpu, 1), 5 * kGiB);
  EXPECT_EQ(*diskSize(perVcpu, 4), 20 * kGiB);
  EXPECT_FALSE(diskSize(perVcpu, 0).ok());
  perVcpu.sizePerVcpu = 1 * image::kTiB;
  auto tooBig = diskSize(perVcpu, 65);
  ASSERT_FALSE(tooBig.ok());
  EXPECT_NE(tooBig.status().message().find("65 vCPUs"), std::string::npos);
  perVcpu.sizePerVcpu = uint64_t{1} << 62;
  EXPECT_FALSE(diskSize(perVcpu, 1u << 20).ok());  // would overflow
  EXPECT_FALSE(diskSize(ScratchDisk{}, 1).ok());
}

TEST(ScratchMetadata, NamesTheAttachModesBothWays) {
  EXPECT_EQ(*parseAttach("boot"), Attach::kBoot);
  EXPECT_EQ(*parseAttach("hotplug"), Attach::kHotplug);
  EXPECT_EQ(toString(Attach::kHotplug), "hotplug");
  EXPECT_NE(parseAttach("Boot").status().message().find("'Boot'"), std::string::npos);
  EXPECT_EQ(diskSerial("vdc"), "scratch-vdc");
}

}  // namespace
}  // namespace virtscratch::vocabulary
