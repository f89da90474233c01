#include "vocabulary/disk_sources.h"

#include "vocabulary/xml_document.h"

namespace virtscratch::vocabulary {
namespace {

// Calls `visit` with each <devices><disk> that names a target device, and that device.
Status forEachDisk(std::string_view domainXml,
                   const std::function<void(const XmlNode&, std::string)>& visit) {
  VS_ASSIGN_OR_RETURN(XmlNode root, readXml(domainXml, "the domain definition"));
  const XmlNode* devices = isElement(root, "domain") ? childElement(root, "devices") : nullptr;
  if (devices == nullptr) return {};
  for (const XmlNode& disk : devices->children) {
    if (!isElement(disk, "disk")) continue;
    const XmlNode* target = childElement(disk, "target");
    std::string dev = target != nullptr ? attributeOf(*target, "dev") : "";
    if (!dev.empty()) visit(disk, std::move(dev));
  }
  return {};
}

}  // namespace

Result<std::map<std::string, std::string>> diskSources(std::string_view domainXml) {
  std::map<std::string, std::string> out;
  VS_RETURN_IF_ERROR(forEachDisk(domainXml, [&out](const XmlNode& disk, std::string dev) {
    std::string path;
    if (const XmlNode* source = childElement(disk, "source")) {
      path = attributeOf(*source, "file");
      if (path.empty()) path = attributeOf(*source, "dev");
    }
    out.emplace(std::move(dev), std::move(path));
  }));
  return out;
}

Result<std::set<std::string>> luksDiskTargets(std::string_view domainXml) {
  std::set<std::string> out;
  VS_RETURN_IF_ERROR(forEachDisk(domainXml, [&out](const XmlNode& disk, std::string dev) {
    // libvirt keeps <encryption> where it was given: in <disk>, or in <source> (its newer place).
    const XmlNode* encryption = childElement(disk, "encryption");
    const XmlNode* source = childElement(disk, "source");
    if (encryption == nullptr && source != nullptr) {
      encryption = childElement(*source, "encryption");
    }
    if (encryption != nullptr && attributeOf(*encryption, "format") == "luks") {
      out.insert(std::move(dev));
    }
  }));
  return out;
}

}  // namespace virtscratch::vocabulary
