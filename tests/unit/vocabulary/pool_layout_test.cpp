// Where images live in the pool, and the <disk> element that points QEMU at them.
#include "vocabulary/pool_layout.h"

#include <gtest/gtest.h>

#include <string>

#include "vocabulary/disk_sources.h"
#include "vocabulary/disk_xml.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::vocabulary {
namespace {

constexpr char kUuid[] = "6f1b2c3d-0000-4000-8000-00000000abcd";

TEST(PoolLayout, PutsImagesUnderTheirDomainsDirectory) {
  EXPECT_EQ(imageFileName("vdb", image::ImageFormat::kQcow2), "vdb.qcow2");
  EXPECT_EQ(imageFileName("vdc", image::ImageFormat::kRaw), "vdc.raw");
  EXPECT_EQ(imageRelativePath(kUuid, "vdb", image::ImageFormat::kRaw),
            std::string(kUuid) + "/vdb.raw");
  EXPECT_EQ(imagePath("/var/lib/virt-scratch/pool", kUuid, "vdb", image::ImageFormat::kQcow2),
            "/var/lib/virt-scratch/pool/" + std::string(kUuid) + "/vdb.qcow2");
}

TEST(PoolLayout, ComparesPathsAsWritten) {
  std::string path = imagePath("/pool", kUuid, "vdb", image::ImageFormat::kQcow2);
  EXPECT_TRUE(sameImagePath(path, path));
  EXPECT_TRUE(sameImagePath("/pool//" + std::string(kUuid) + "/./vdb.qcow2", path));
  EXPECT_TRUE(sameImagePath("/other/../pool/" + std::string(kUuid) + "/vdb.qcow2", path));
  EXPECT_FALSE(sameImagePath("/pool/" + std::string(kUuid) + "/vdb.raw", path));
  EXPECT_FALSE(sameImagePath("/tmp/vdb.qcow2", path));
  EXPECT_FALSE(sameImagePath("", path));
}

// The <disk> wrapped in a definition, read back with the hardened reader the hook uses.
std::string sourceOf(const std::string& disk, const std::string& target) {
  auto sources = diskSources("<domain><devices>" + disk + "</devices></domain>");
  EXPECT_TRUE(sources.ok()) << sources.status().message() << "\n" << disk;
  if (!sources.ok()) return "(unreadable)";
  auto it = sources->find(target);
  return it == sources->end() ? "(no such target)" : it->second;
}

TEST(DiskXml, WritesTheBootDiskEnableAddsToADefinition) {
  EXPECT_EQ(diskXml("/pool/u/vdb.qcow2", image::ImageFormat::kQcow2, "vdb", Attach::kBoot),
            "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
            "<source file='/pool/u/vdb.qcow2' startupPolicy='optional'/>"
            "<target dev='vdb' bus='virtio'/><serial>scratch-vdb</serial></disk>");
}

TEST(DiskXml, WritesTheDiskTheWatcherHotPlugs) {
  EXPECT_EQ(diskXml("/pool/u/vdc.raw", image::ImageFormat::kRaw, "vdc", Attach::kHotplug),
            "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            "<source file='/pool/u/vdc.raw'/>"
            "<target dev='vdc' bus='virtio'/><serial>scratch-vdc</serial></disk>");
}

TEST(DiskXml, EscapesAHostilePathSoItStaysOneAttribute) {
  const std::string hostile =
      "/pool/a'b\"c&d<e>f/x' startupPolicy='mandatory'/><source file='/etc/shadow\n\t.qcow2";
  for (Attach attach : {Attach::kBoot, Attach::kHotplug}) {
    std::string xml = diskXml(hostile, image::ImageFormat::kQcow2, "vdb", attach);
    EXPECT_EQ(sourceOf(xml, "vdb"), hostile) << xml;
    EXPECT_EQ(xml.find("/etc/shadow\n"), std::string::npos) << xml;
    EXPECT_EQ(xml.find("mandatory'"), std::string::npos) << xml;
  }
}

}  // namespace
}  // namespace virtscratch::vocabulary
