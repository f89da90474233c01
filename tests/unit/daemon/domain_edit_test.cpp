// enable/disable's edits of a domain's persistent definition, against libvirt's test driver in
// this process; the result is read back from libvirt (virDomainGetXMLDesc, inactive).
#include "cli/client/domain_edit.h"

#include <gtest/gtest.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <string>

namespace virtscratch::cli {
namespace {

constexpr const char* kWeb = "5a3c2e8a-5f4b-4c6d-9e7f-101112131415";
constexpr const char* kPool = "/var/lib/virt-scratch/pool";

class DomainEditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = openLibvirt(std::string("test:///default"));
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    conn = std::move(*opened);
  }

  void define(const std::string& devices = "") {
    std::string xml = "<domain type='test'><name>web</name><uuid>" + std::string(kWeb) +
                      "</uuid><memory>65536</memory><vcpu>4</vcpu><os><type>hvm</type></os>"
                      "<devices>" +
                      devices + "</devices></domain>";
    DomainPtr dom(virDomainDefineXML(conn.get(), xml.c_str()));
    ASSERT_TRUE(dom) << virGetLastErrorMessage();
  }

  std::string inactiveXml() {
    DomainPtr dom(virDomainLookupByName(conn.get(), "web"));
    if (!dom) return "";
    char* xml = virDomainGetXMLDesc(dom.get(), VIR_DOMAIN_XML_INACTIVE);
    std::string text = xml != nullptr ? xml : "";
    std::free(xml);
    return text;
  }

  static vocabulary::ScratchDisk disk(const std::string& target, vocabulary::Attach attach) {
    vocabulary::ScratchDisk d;
    d.target = target;
    d.size = uint64_t{10} << 30;
    d.label = "scratch";
    d.attach = attach;
    return d;
  }

  static size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  ConnectPtr conn;
};

TEST_F(DomainEditTest, EnableWritesTheMetadataAndABootDiskAtThePoolPath) {
  define();
  auto edited = enableScratchDisk(conn.get(), "web", disk("vdb", vocabulary::Attach::kBoot), kPool);
  ASSERT_TRUE(edited.ok()) << edited.status().message();
  EXPECT_EQ(edited->uuid, kWeb);
  EXPECT_FALSE(edited->running);

  std::string xml = inactiveXml();
  EXPECT_NE(xml.find("<source file='" + std::string(kPool) + "/" + kWeb +
                     "/vdb.qcow2' startupPolicy='optional'/>"),
            std::string::npos)
      << xml;
  EXPECT_NE(xml.find("<driver name='qemu' type='qcow2'/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<target dev='vdb' bus='virtio'/>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<serial>scratch-vdb</serial>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("xmlns:scratch=\"http://virtscratch.org/xmlns/scratch/1.0\""),
            std::string::npos)
      << xml;
  auto scratch = vocabulary::parseDomainXml(xml);
  ASSERT_TRUE(scratch.ok()) << scratch.status().message() << "\n" << xml;
  ASSERT_EQ(scratch->disks.size(), 1u);
  EXPECT_EQ(scratch->disks[0].target, "vdb");
  EXPECT_EQ(scratch->disks[0].size, uint64_t{10} << 30);
  EXPECT_EQ(scratch->disks[0].label, "scratch");
  EXPECT_EQ(scratch->disks[0].attach, vocabulary::Attach::kBoot);
}

TEST_F(DomainEditTest, EnablingATargetAgainReplacesItsEntryAndItsDisk) {
  define();
  ASSERT_TRUE(
      enableScratchDisk(conn.get(), kWeb, disk("vdb", vocabulary::Attach::kBoot), kPool).ok());
  vocabulary::ScratchDisk hotplug = disk("vdb", vocabulary::Attach::kHotplug);
  hotplug.format = image::ImageFormat::kRaw;
  auto edited = enableScratchDisk(conn.get(), kWeb, hotplug, "");
  ASSERT_TRUE(edited.ok()) << edited.status().message();

  std::string xml = inactiveXml();
  EXPECT_EQ(xml.find("scratch-vdb"), std::string::npos) << xml;
  auto scratch = vocabulary::parseDomainXml(xml);
  ASSERT_TRUE(scratch.ok()) << scratch.status().message();
  ASSERT_EQ(scratch->disks.size(), 1u);
  EXPECT_EQ(scratch->disks[0].attach, vocabulary::Attach::kHotplug);
  EXPECT_EQ(scratch->disks[0].format, image::ImageFormat::kRaw);
}

TEST_F(DomainEditTest, EnableRefusesATargetThatAnotherDiskUses) {
  define(
      "<disk type='file' device='disk'><source file='/srv/data.img'/>"
      "<target dev='vdb' bus='virtio'/></disk>");
  auto edited = enableScratchDisk(conn.get(), "web", disk("vdb", vocabulary::Attach::kBoot), kPool);
  ASSERT_FALSE(edited.ok());
  EXPECT_EQ(edited.status().code(), ErrorCode::kAlreadyExists);
  EXPECT_NE(edited.status().message().find("--target"), std::string::npos);
  std::string xml = inactiveXml();
  EXPECT_NE(xml.find("/srv/data.img"), std::string::npos);
  EXPECT_EQ(xml.find("virtscratch.org"), std::string::npos) << xml;
}

TEST_F(DomainEditTest, DisableRemovesOneTargetThenTheWholeElement) {
  define();
  ASSERT_TRUE(
      enableScratchDisk(conn.get(), "web", disk("vdb", vocabulary::Attach::kBoot), kPool).ok());
  ASSERT_TRUE(
      enableScratchDisk(conn.get(), "web", disk("vdc", vocabulary::Attach::kBoot), kPool).ok());
  ASSERT_EQ(count(inactiveXml(), "<serial>scratch-"), 2u);

  auto one = disableScratchDisks(conn.get(), "web", std::string("vdb"));
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one->targets, std::vector<std::string>{"vdb"});
  std::string xml = inactiveXml();
  EXPECT_EQ(xml.find("scratch-vdb"), std::string::npos) << xml;
  EXPECT_NE(xml.find("scratch-vdc"), std::string::npos) << xml;
  auto scratch = vocabulary::parseDomainXml(xml);
  ASSERT_TRUE(scratch.ok());
  ASSERT_EQ(scratch->disks.size(), 1u);
  EXPECT_EQ(scratch->disks[0].target, "vdc");

  auto rest = disableScratchDisks(conn.get(), "web", std::nullopt);
  ASSERT_TRUE(rest.ok()) << rest.status().message();
  xml = inactiveXml();
  EXPECT_EQ(xml.find("scratch"), std::string::npos) << xml;

  auto again = disableScratchDisks(conn.get(), "web", std::nullopt);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), ErrorCode::kNotFound);
}

TEST_F(DomainEditTest, RefusesTransientAndUnknownDomains) {
  std::string xml =
      "<domain type='test'><name>tmp</name><memory>65536</memory>"
      "<os><type>hvm</type></os></domain>";
  DomainPtr transient(virDomainCreateXML(conn.get(), xml.c_str(), 0));
  ASSERT_TRUE(transient) << virGetLastErrorMessage();
  auto edited = enableScratchDisk(conn.get(), "tmp", disk("vdb", vocabulary::Attach::kBoot), kPool);
  ASSERT_FALSE(edited.ok());
  EXPECT_NE(edited.status().message().find("transient"), std::string::npos);
  virDomainDestroy(transient.get());

  auto unknown = disableScratchDisks(conn.get(), "nosuch", std::nullopt);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("'nosuch'"), std::string::npos);
}

}  // namespace
}  // namespace virtscratch::cli
