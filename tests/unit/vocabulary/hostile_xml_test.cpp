// Definitions written to hurt the reader: each must be refused with an error that says why, fast,
// without reading files or expanding entities.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "vocabulary/disk_sources.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::vocabulary {
namespace {

constexpr char kDomainTail[] =
    "<domain><name>a</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid>"
    "<description>&lol9;</description></domain>";

std::string refusal(const std::string& xml) {
  auto parsed = parseDomainXml(xml);
  EXPECT_FALSE(parsed.ok());
  if (parsed.ok()) return {};
  EXPECT_EQ(parsed.status().code(), ErrorCode::kInvalidArgument);
  // The same reader serves the disk list.
  auto sources = diskSources(xml);
  EXPECT_FALSE(sources.ok());
  return parsed.status().message();
}

TEST(HostileXml, RefusesTheBillionLaughsBeforeExpandingAnything) {
  std::string xml = "<?xml version='1.0'?>\n<!DOCTYPE domain [\n<!ENTITY lol0 'lol'>\n";
  for (int i = 1; i <= 9; ++i) {
    xml += "<!ENTITY lol" + std::to_string(i) + " '";
    for (int k = 0; k < 10; ++k) xml += "&lol" + std::to_string(i - 1) + ";";
    xml += "'>\n";
  }
  xml += "]>\n";
  xml += kDomainTail;
  auto start = std::chrono::steady_clock::now();
  std::string message = refusal(xml);
  EXPECT_NE(message.find("DOCTYPE"), std::string::npos) << message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST(HostileXml, RefusesExternalEntitiesAndNeverShowsTheFile) {
  std::string xml =
      "<!DOCTYPE domain [<!ENTITY passwd SYSTEM 'file:///etc/passwd'>]>"
      "<domain><name>&passwd;</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid></domain>";
  std::string message = refusal(xml);
  EXPECT_NE(message.find("DOCTYPE"), std::string::npos) << message;
  EXPECT_EQ(message.find("root:"), std::string::npos) << message;
  // An external DTD is not fetched either.
  message = refusal(
      "<!DOCTYPE domain SYSTEM 'http://example.org/evil.dtd'><domain><name>a</name></domain>");
  EXPECT_NE(message.find("DOCTYPE"), std::string::npos) << message;
}

TEST(HostileXml, RefusesUndeclaredEntities) {
  std::string message = refusal(
      "<domain><name>&passwd;</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid></domain>");
  EXPECT_NE(message.find("passwd"), std::string::npos) << message;
}

TEST(HostileXml, RefusesNestingDeeperThanSixtyFourLevels) {
  std::string deep = "<domain><name>a</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid>";
  std::string close;
  for (int i = 0; i < 64; ++i) {
    deep += "<x>";
    close = "</x>" + close;
  }
  std::string message = refusal(deep + close + "</domain>");
  EXPECT_NE(message.find("deeper than 64"), std::string::npos) << message;
  // 100000 levels: refused at level 65, not after recursing through all of them.
  std::string deeper(100000 * 3, ' ');
  for (size_t i = 0; i < 100000; ++i) deeper.replace(i * 3, 3, "<x>");
  message = refusal("<domain>" + deeper);
  EXPECT_NE(message.find("deeper than 64"), std::string::npos) << message;
}

// 100001 empty elements fit in 4 MiB; the tree of them would not fit in a few tens of MiB.
TEST(HostileXml, RefusesMoreThanAHundredThousandNodes) {
  std::string head =
      "<domain><name>a</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid><metadata>"
      "<j:junk xmlns:j='urn:junk'>";
  std::string many;
  for (int i = 0; i < 100001; ++i) many += "<x/>";
  std::string message = refusal(head + many + "</j:junk></metadata></domain>");
  EXPECT_NE(message.find("more than 100000"), std::string::npos) << message;
  // A hundred thousand less the few around them are read.
  many.resize((100000 - 10) * 4);
  EXPECT_TRUE(parseDomainXml(head + many + "</j:junk></metadata></domain>").ok());
}

TEST(HostileXml, AcceptsSixtyFourLevels) {
  std::string xml = "<domain><name>a</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid>";
  std::string close;
  for (int i = 0; i < 62; ++i) {  // with <domain> and <description>: 64
    xml += "<x>";
    close = "</x>" + close;
  }
  EXPECT_TRUE(parseDomainXml(xml + close + "</domain>").ok());
}

TEST(HostileXml, RefusesHugeInputBeforeParsingIt) {
  std::string xml =
      "<domain><name>a</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid>"
      "<description>";
  xml += std::string(5 << 20, 'a');
  xml += "</description></domain>";
  std::string message = refusal(xml);
  EXPECT_NE(message.find("bytes"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(xml.size())), std::string::npos) << message;
}

TEST(HostileXml, RefusesBytesThatAreNotUtf8) {
  std::string message = refusal(
      "<domain><name>caf\xe9</name><uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid></domain>");
  EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
  message = refusal(
      "<?xml version='1.0' encoding='ISO-8859-1'?><domain><name>caf\xe9</name>"
      "<uuid>6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f</uuid></domain>");
  EXPECT_NE(message.find("UTF-8"), std::string::npos) << message;
}

TEST(HostileXml, RefusesMalformedAndEmptyDocumentsNamingTheLine) {
  std::string message = refusal("<domain>\n<name>a</nam>\n</domain>");
  EXPECT_NE(message.find("line 2"), std::string::npos) << message;
  EXPECT_FALSE(refusal("").empty());
  EXPECT_FALSE(refusal("<domain>").empty());
  EXPECT_FALSE(refusal(std::string("<domain>\0</domain>", 18)).empty());
}

}  // namespace
}  // namespace virtscratch::vocabulary
