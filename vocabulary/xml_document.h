// Reading untrusted XML (libvirt domain definitions) with libxml2, hardened: no network access,
// no DTD at all (a document with a DOCTYPE is refused as soon as the parser meets it, before any
// declaration in it is read, so entities can neither expand nor reach files), at most
// kMaxXmlBytes of input and kMaxXmlDepth levels of elements, UTF-8 only, and nothing printed on
// stderr: errors come back as values. Internal to domain/. Any thread.
#pragma once

#include <libxml/tree.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace virtscratch::vocabulary {

inline constexpr size_t kMaxXmlBytes = size_t{4} << 20;
inline constexpr int kMaxXmlDepth = 64;

struct XmlDocFree {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using XmlDocPtr = std::unique_ptr<xmlDoc, XmlDocFree>;

// Parses `xml`; `what` names the document in errors ("the domain definition").
Result<XmlDocPtr> readXml(std::string_view xml, std::string_view what);

// True when `node` is an element called `name` in namespace `href` (empty: in no namespace).
bool isElement(const xmlNode* node, std::string_view name, std::string_view href = {});
// The element's name as written, with its prefix ("scratch:disk").
std::string qualifiedName(const xmlNode* node);
// The attribute's name as written, with its prefix when it has one.
std::string attributeName(const xmlAttr* attr);
std::string attributeValue(const xmlAttr* attr);
// The text inside an element, with the text of any elements in it.
std::string textOf(const xmlNode* node);

}  // namespace virtscratch::vocabulary
