#include "vocabulary/disk_sources.h"

#include "vocabulary/xml_document.h"

namespace virtscratch::vocabulary {
namespace {

const xmlNode* childElement(const xmlNode* parent, std::string_view name) {
  for (const xmlNode* child = parent->children; child != nullptr; child = child->next) {
    if (isElement(child, name)) return child;
  }
  return nullptr;
}

std::string attributeOf(const xmlNode* node, std::string_view name) {
  for (const xmlAttr* a = node->properties; a != nullptr; a = a->next) {
    if (a->ns == nullptr && attributeName(a) == name) return attributeValue(a);
  }
  return {};
}

// Calls `visit` with each <devices><disk> that names a target device, and that device.
Status forEachDisk(std::string_view domainXml,
                   const std::function<void(const xmlNode*, std::string)>& visit) {
  VS_ASSIGN_OR_RETURN(XmlDocPtr doc, readXml(domainXml, "the domain definition"));
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  const xmlNode* devices = isElement(root, "domain") ? childElement(root, "devices") : nullptr;
  if (devices == nullptr) return {};
  for (const xmlNode* disk = devices->children; disk != nullptr; disk = disk->next) {
    if (!isElement(disk, "disk")) continue;
    const xmlNode* target = childElement(disk, "target");
    std::string dev = target != nullptr ? attributeOf(target, "dev") : "";
    if (!dev.empty()) visit(disk, std::move(dev));
  }
  return {};
}

}  // namespace

Result<std::map<std::string, std::string>> diskSources(std::string_view domainXml) {
  std::map<std::string, std::string> out;
  VS_RETURN_IF_ERROR(forEachDisk(domainXml, [&out](const xmlNode* disk, std::string dev) {
    std::string path;
    if (const xmlNode* source = childElement(disk, "source")) {
      path = attributeOf(source, "file");
      if (path.empty()) path = attributeOf(source, "dev");
    }
    out.emplace(std::move(dev), std::move(path));
  }));
  return out;
}

Result<std::set<std::string>> luksDiskTargets(std::string_view domainXml) {
  std::set<std::string> out;
  VS_RETURN_IF_ERROR(forEachDisk(domainXml, [&out](const xmlNode* disk, std::string dev) {
    // libvirt keeps <encryption> where it was given: in <disk>, or in <source> (its newer place).
    const xmlNode* encryption = childElement(disk, "encryption");
    const xmlNode* source = childElement(disk, "source");
    if (encryption == nullptr && source != nullptr) encryption = childElement(source, "encryption");
    if (encryption != nullptr && attributeOf(encryption, "format") == "luks") {
      out.insert(std::move(dev));
    }
  }));
  return out;
}

}  // namespace virtscratch::vocabulary
