// The vocabulary of encrypted disks: the "encryption" spec key, the metadata attribute and what
// the hook and the watcher ask for without it, the secret's UUID and XML, and the <encryption>
// element of the disk XML.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

#include "tests/unit/vocabulary/one_disk_domain.h"
#include "vocabulary/allocate_spec.h"
#include "vocabulary/disk_secret.h"
#include "vocabulary/disk_sources.h"
#include "vocabulary/disk_xml.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::vocabulary {
namespace {

constexpr const char* kUuid = test::kOneDiskUuid;

TEST(EncryptionSpecKey, IsReadWrittenAndCheckedLikeTheOtherNames) {
  SpecMap map{{"size", uint64_t{1} << 30}, {"encryption", std::string("luks")}};
  auto spec = parseSpecMap(map);
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  EXPECT_EQ(spec->image.encryption, image::Encryption::kLuks);
  EXPECT_TRUE(spec->encryptionGiven);
  EXPECT_EQ(std::get<std::string>(toSpecMap(*spec).at("encryption")), "luks");

  auto silent = parseSpecMap({{"size", uint64_t{1} << 30}});
  ASSERT_TRUE(silent.ok());
  EXPECT_FALSE(silent->encryptionGiven);
  EXPECT_EQ(toSpecMap(*silent).count("encryption"), 0u) << "the daemon's default must decide";

  auto unknown = parseSpecMap({{"encryption", std::string("rot13")}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'rot13'"), std::string::npos);
  auto wrongType = parseSpecMap({{"encryption", true}});
  ASSERT_FALSE(wrongType.ok());
  EXPECT_NE(wrongType.status().message().find("'encryption' must be of type 's'"),
            std::string::npos)
      << wrongType.status().message();
}

using test::domainWith;

TEST(EncryptionMetadata, ReadsTheAttributeAndNamesABadValue) {
  auto scratch = parseDomainXml(domainWith("encryption='luks'"));
  ASSERT_TRUE(scratch.ok()) << scratch.status().message();
  ASSERT_EQ(scratch->disks.size(), 1u);
  EXPECT_EQ(scratch->disks[0].encryption, image::Encryption::kLuks);
  EXPECT_NE(metadataXml(scratch->disks).find("encryption='luks'"), std::string::npos);

  auto bad = parseDomainXml(domainWith("encryption='aes'"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("encryption='aes'"), std::string::npos)
      << bad.status().message();
}

TEST(EncryptionMetadata, ABootDiskWithoutTheAttributeIsAskedForPlainAHotPluggedOneIsNot) {
  // A boot disk's <disk> element, written before any image, says how QEMU opens it.
  auto boot = parseDomainXml(domainWith("attach='boot'"));
  ASSERT_TRUE(boot.ok());
  AllocateSpec bootSpec = allocateSpecOf(boot->disks[0], 1);
  EXPECT_TRUE(bootSpec.encryptionGiven);
  EXPECT_EQ(bootSpec.image.encryption, image::Encryption::kNone);
  // The watcher writes a hot-plugged disk's XML from the image: the daemon's default may decide.
  auto hotplug = parseDomainXml(domainWith("attach='hotplug'"));
  ASSERT_TRUE(hotplug.ok());
  EXPECT_FALSE(allocateSpecOf(hotplug->disks[0], 1).encryptionGiven);
  auto luks = parseDomainXml(domainWith("attach='hotplug' encryption='luks'"));
  ASSERT_TRUE(luks.ok());
  AllocateSpec luksSpec = allocateSpecOf(luks->disks[0], 1);
  EXPECT_TRUE(luksSpec.encryptionGiven);
  EXPECT_EQ(luksSpec.image.encryption, image::Encryption::kLuks);
}

// 8-4-4-4-12 lower-case hex digits, version 8, RFC 9562 variant.
bool isVersion8Uuid(const std::string& u) {
  if (u.size() != 36) return false;
  for (size_t i = 0; i < u.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? u[i] != '-' : std::string_view("0123456789abcdef").find(u[i]) == std::string::npos) {
      return false;
    }
  }
  return u[14] == '8' && std::string_view("89ab").find(u[19]) != std::string::npos;
}

TEST(SecretUuid, IsAStableVersion8UuidOfTheDomainAndTarget) {
  std::string uuid = secretUuidOf(kUuid, "vdb");
  EXPECT_TRUE(isVersion8Uuid(uuid)) << uuid;
  EXPECT_EQ(secretUuidOf(kUuid, "vdb"), uuid);
  EXPECT_NE(secretUuidOf(kUuid, "vdc"), uuid);
  EXPECT_NE(secretUuidOf("bbbbbbbb-1111-4222-8333-444444444444", "vdb"), uuid);
}

TEST(SecretXml, IsPrivateEphemeralAsAskedAndEscapesThePath) {
  std::string xml = secretXml("u-1", "/pool/a'b<c>/vdb.qcow2", true, "key of vdb & co");
  EXPECT_NE(xml.find("ephemeral='yes' private='yes'"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<uuid>u-1</uuid>"), std::string::npos);
  EXPECT_NE(xml.find("/pool/a&apos;b&lt;c&gt;/vdb.qcow2"), std::string::npos) << xml;
  EXPECT_NE(xml.find("key of vdb &amp; co"), std::string::npos) << xml;
  EXPECT_NE(secretXml("u-1", "/p", false, "d").find("ephemeral='no' private='yes'"),
            std::string::npos);
}

TEST(EncryptedDiskXml, NamesTheSecretInsideTheSourceAndKeepsThePathReadable) {
  std::string xml = diskXml("/pool/u/vdb.qcow2", image::ImageFormat::kQcow2, "vdb", Attach::kBoot,
                            {.discard = false, .secretUuid = "s-1"});
  EXPECT_EQ(xml,
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='/pool/u/vdb.qcow2' startupPolicy='optional'><encryption format='luks'>"
            "<secret type='passphrase' uuid='s-1'/></encryption></source>"
            "<target dev='vdb' bus='virtio'/><serial>scratch-vdb</serial></disk>");
  auto sources = diskSources("<domain><devices>" + xml + "</devices></domain>");
  ASSERT_TRUE(sources.ok()) << sources.status().message();
  EXPECT_EQ(sources->at("vdb"), "/pool/u/vdb.qcow2");
}

TEST(EncryptedDiskXml, FindsTheLuksDisksWhereverLibvirtKeepsTheirEncryption) {
  std::string inSource = diskXml("/pool/u/vdb.qcow2", image::ImageFormat::kQcow2, "vdb",
                                 Attach::kBoot, {.discard = false, .secretUuid = "s-1"});
  std::string inDisk =
      "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
      "<source file='/pool/u/vdc.raw'/><encryption format='luks'>"
      "<secret type='passphrase' uuid='s-2'/></encryption><target dev='vdc' bus='virtio'/></disk>";
  std::string plain =
      diskXml("/pool/u/vdd.qcow2", image::ImageFormat::kQcow2, "vdd", Attach::kBoot);
  std::string qcowDefault =  // qcow2's own, older encryption is not LUKS
      "<disk type='file' device='disk'><source file='/x.qcow2'><encryption format='qcow'/>"
      "</source><target dev='vde' bus='virtio'/></disk>";
  auto luks = luksDiskTargets("<domain><devices>" + inSource + inDisk + plain + qcowDefault +
                              "</devices></domain>");
  ASSERT_TRUE(luks.ok()) << luks.status().message();
  EXPECT_EQ(*luks, (std::set<std::string>{"vdb", "vdc"}));
  EXPECT_FALSE(luksDiskTargets("<domain><devices><disk>").ok());
}

}  // namespace
}  // namespace virtscratch::vocabulary
