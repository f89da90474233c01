// The client library writes and reads the daemon's messages with sd-bus by hand, so nothing
// generated checks it against the interface: this test does, member by member, against
// dbus/org.virtscratch.Scratch1.xml (from which the daemon's adaptors are generated).
#include "client/bus_methods.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "vocabulary/xml_document.h"

namespace virtscratch::client {
namespace {

struct Member {
  std::string in, out;  // a method's signatures; a property's type in `out`
  bool found = false;
};

// interface + "." + member -> its signatures, for every method and property in the XML.
std::map<std::string, Member> interfaceMembers() {
  std::ifstream file(VS_INTERFACE_XML);
  std::stringstream text;
  text << file.rdbuf();
  std::string xml = text.str();
  // The introspection DOCTYPE: the vocabulary's reader refuses any, as it reads guests' XML.
  size_t doctype = xml.find("<!DOCTYPE");
  if (doctype != std::string::npos) xml.erase(doctype, xml.find('>', doctype) + 1 - doctype);
  auto root = vocabulary::readXml(xml, "the interface XML");
  EXPECT_TRUE(root.ok()) << root.status().message();
  std::map<std::string, Member> members;
  if (!root.ok()) return members;
  for (const auto& interface : root->children) {
    if (!vocabulary::isElement(interface, "interface")) continue;
    std::string prefix = vocabulary::attributeOf(interface, "name") + ".";
    for (const auto& member : interface.children) {
      std::string name = prefix + vocabulary::attributeOf(member, "name");
      if (vocabulary::isElement(member, "property")) {
        members[name].out = vocabulary::attributeOf(member, "type");
      } else if (vocabulary::isElement(member, "method")) {
        Member& method = members[name];
        for (const auto& arg : member.children) {
          if (!vocabulary::isElement(arg, "arg")) continue;
          bool in = vocabulary::attributeOf(arg, "direction") == "in";
          (in ? method.in : method.out) += vocabulary::attributeOf(arg, "type");
        }
      }
    }
  }
  return members;
}

TEST(BusMethods, EveryMethodTheClientCallsHasTheInterfacesSignatures) {
  auto members = interfaceMembers();
  ASSERT_GT(members.size(), 30u);
  for (const BusMethod& method : kClientMethods) {
    std::string name = std::string(method.interface) + "." + std::string(method.member);
    auto it = members.find(name);
    ASSERT_NE(it, members.end()) << name << " is not in the interface XML";
    EXPECT_EQ(it->second.in, method.in) << name;
    EXPECT_EQ(it->second.out, method.out) << name;
  }
}

TEST(BusMethods, EveryPropertyTheClientReadsHasTheTypeItReadsItAs) {
  auto members = interfaceMembers();
  for (const BusProperty& property : kClientProperties) {
    std::string name = std::string(property.interface) + "." + std::string(property.name);
    auto it = members.find(name);
    ASSERT_NE(it, members.end()) << name << " is not in the interface XML";
    EXPECT_EQ(it->second.out, std::string(1, property.type)) << name;
  }
}

}  // namespace
}  // namespace virtscratch::client
