// Reading untrusted XML (libvirt domain definitions) with expat into a small tree, hardened: no
// DTD at all (a document with a DOCTYPE is refused as soon as the parser meets it, before any
// declaration in it is read, so entities can neither expand nor reach files or the network), at
// most kMaxXmlBytes of input, kMaxXmlDepth levels of elements and kMaxXmlNodes nodes (so the tree
// stays within a few tens of MiB whatever the input), UTF-8 only, and nothing
// printed on stderr: errors come back as values. expat rather than libxml2 because the hook
// reads every domain's definition at every step of its life, and libvirt waits for it: expat is
// one small library, where libxml2 loads ICU and two compressors into each run. Comments are
// dropped; text, CDATA included, is kept. Internal to vocabulary/. Any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace virtscratch::vocabulary {

inline constexpr size_t kMaxXmlBytes = size_t{4} << 20;
inline constexpr int kMaxXmlDepth = 64;
// Elements, runs of text and processing instructions; a domain definition holds a few hundred.
inline constexpr size_t kMaxXmlNodes = 100000;

struct XmlAttribute {
  std::string name;    // local name
  std::string prefix;  // as written; empty when unprefixed
  std::string ns;      // namespace URI; empty for an unprefixed attribute
  std::string value;   // after the XML rules for attribute values (entities, spaces)
};

struct XmlNode {
  // An element, its text (adjacent runs joined, CDATA included), or a processing instruction.
  enum class Kind { kElement, kText, kInstruction };
  Kind kind = Kind::kElement;
  std::string name;                      // element: local name
  std::string prefix;                    // element: as written; empty when unprefixed
  std::string ns;                        // element: namespace URI; empty when in no namespace
  std::vector<XmlAttribute> attributes;  // element: in document order, xmlns ones left out
  std::vector<XmlNode> children;         // element: in document order
  std::string text;                      // text: the characters
};

// Parses `xml` and returns its root element; `what` names the document in errors ("the domain
// definition").
Result<XmlNode> readXml(std::string_view xml, std::string_view what);

// True when `node` is an element called `name` in namespace `href` (empty: in no namespace).
bool isElement(const XmlNode& node, std::string_view name, std::string_view href = {});
// The element's or attribute's name as written, with its prefix ("scratch:disk").
std::string qualifiedName(const XmlNode& node);
std::string attributeName(const XmlAttribute& attr);
// The text inside a node, with the text of any elements in it.
std::string textOf(const XmlNode& node);
// The first child element called `name` in no namespace, or null.
const XmlNode* childElement(const XmlNode& parent, std::string_view name);
// The value of the unprefixed attribute `name`; empty when absent.
std::string attributeOf(const XmlNode& node, std::string_view name);

}  // namespace virtscratch::vocabulary
