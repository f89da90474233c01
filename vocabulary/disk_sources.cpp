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

}  // namespace

Result<std::map<std::string, std::string>> diskSources(std::string_view domainXml) {
  VS_ASSIGN_OR_RETURN(XmlDocPtr doc, readXml(domainXml, "the domain definition"));
  std::map<std::string, std::string> out;
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  const xmlNode* devices = isElement(root, "domain") ? childElement(root, "devices") : nullptr;
  if (devices == nullptr) return out;
  for (const xmlNode* disk = devices->children; disk != nullptr; disk = disk->next) {
    if (!isElement(disk, "disk")) continue;
    const xmlNode* target = childElement(disk, "target");
    std::string dev = target != nullptr ? attributeOf(target, "dev") : "";
    if (dev.empty()) continue;
    std::string path;
    if (const xmlNode* source = childElement(disk, "source")) {
      path = attributeOf(source, "file");
      if (path.empty()) path = attributeOf(source, "dev");
    }
    out.emplace(std::move(dev), std::move(path));
  }
  return out;
}

}  // namespace virtscratch::vocabulary
