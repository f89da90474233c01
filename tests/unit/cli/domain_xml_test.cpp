// The CLI's reading and editing of a domain definition (enable/disable), and its refusals.
#include "cli/client/domain_xml.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace virtscratch::cli {
namespace {

constexpr char kDomain[] =
    "<domain type='qemu'><name>vm</name><devices>"
    "<disk type='file' device='disk'><source file='/images/boot.qcow2'/>"
    "<target dev='vda' bus='virtio'/></disk>"
    "<disk type='file' device='disk'><source file='/pool/x/vdb.qcow2'/>"
    "<target dev='vdb' bus='virtio'/><serial>scratch-vdb</serial></disk>"
    "<interface type='user'/></devices></domain>";

TEST(DomainXml, ListsTheDisksWithTheirTargetSerialAndText) {
  auto disks = listDisks(kDomain);
  ASSERT_TRUE(disks.ok()) << disks.status().message();
  ASSERT_EQ(disks->size(), 2u);
  EXPECT_EQ((*disks)[0].target, "vda");
  EXPECT_EQ((*disks)[0].serial, "");
  EXPECT_EQ((*disks)[1].target, "vdb");
  EXPECT_EQ((*disks)[1].serial, "scratch-vdb");
  EXPECT_NE((*disks)[1].xml.find("/pool/x/vdb.qcow2"), std::string::npos) << (*disks)[1].xml;
  EXPECT_EQ((*disks)[1].xml.find("/images/boot.qcow2"), std::string::npos) << (*disks)[1].xml;
}

TEST(DomainXml, RemovesOneTargetAndAppendsADisk) {
  auto edited = editDisks(kDomain, "vdb",
                          "<disk type='file' device='disk'><source file='/pool/x/vdc.raw'/>"
                          "<target dev='vdc' bus='virtio'/></disk>");
  ASSERT_TRUE(edited.ok()) << edited.status().message();
  auto disks = listDisks(*edited);
  ASSERT_TRUE(disks.ok()) << disks.status().message();
  ASSERT_EQ(disks->size(), 2u);
  EXPECT_EQ((*disks)[0].target, "vda");
  EXPECT_EQ((*disks)[1].target, "vdc");
  EXPECT_NE(edited->find("<interface type=\"user\"/>"), std::string::npos) << *edited;
}

TEST(DomainXml, RefusesADoctypeBeforeReadingItsDeclarations) {
  std::string laughs = "<?xml version='1.0'?>\n<!DOCTYPE domain [\n<!ENTITY lol0 'lol'>\n";
  for (int i = 1; i <= 9; ++i) {
    laughs += "<!ENTITY lol" + std::to_string(i) + " '";
    for (int k = 0; k < 10; ++k) laughs += "&lol" + std::to_string(i - 1) + ";";
    laughs += "'>\n";
  }
  laughs +=
      "]>\n<domain><name>&lol9;</name><devices><disk><target dev='&lol9;'/></disk>"
      "</devices></domain>";
  const std::string external =
      "<!DOCTYPE domain [<!ENTITY passwd SYSTEM 'file:///etc/passwd'>]>"
      "<domain><devices><disk><serial>&passwd;</serial></disk></devices></domain>";
  const std::string externalDtd =
      "<!DOCTYPE domain SYSTEM 'http://example.org/evil.dtd'><domain><devices/></domain>";
  for (const std::string& xml : {laughs, external, externalDtd}) {
    auto start = std::chrono::steady_clock::now();
    auto listed = listDisks(xml);
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.status().message(),
              "the domain definition has a <!DOCTYPE>, which is refused: DTDs and entities could "
              "make the reader expand data without bound or read files");
    auto edited = editDisks(kDomain, "", xml);
    ASSERT_FALSE(edited.ok());
    EXPECT_NE(edited.status().message().find("the disk element has a <!DOCTYPE>"),
              std::string::npos)
        << edited.status().message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  }
}

TEST(DomainXml, RefusesWhatIsNotADomainDefinition) {
  for (const char* xml : {"", "<domain><devices>", "<domain>&passwd;</domain>"}) {
    auto listed = listDisks(xml);
    ASSERT_FALSE(listed.ok()) << xml;
    EXPECT_EQ(listed.status().message(), "the domain definition is not well-formed XML") << xml;
  }
  auto listed = listDisks("<network><name>n</name></network>");
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.status().message(), "the definition's root is not <domain>");
}

}  // namespace
}  // namespace virtscratch::cli
