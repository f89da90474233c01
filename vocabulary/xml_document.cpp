#include "vocabulary/xml_document.h"

#include <expat.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <utility>

#include "base/utf8.h"

namespace virtscratch::vocabulary {
namespace {

// Names come from expat as "uri\1local\1prefix", "uri\1local" or "local" (XML_ParserCreateNS
// with kSeparator and XML_SetReturnNSTriplet): \1 cannot occur in an XML name or URI.
constexpr char kSeparator = '\x01';

struct ParserFree {
  void operator()(XML_ParserStruct* parser) const { XML_ParserFree(parser); }
};
using ParserPtr = std::unique_ptr<XML_ParserStruct, ParserFree>;

// What the handlers build and saw; reached through expat's user data.
struct ParseState {
  XML_Parser parser = nullptr;
  XmlNode root;
  std::vector<XmlNode*> open;  // the elements being read, innermost last
  size_t nodes = 0;
  bool doctype = false;
  bool tooDeep = false;
  bool tooMany = false;
  bool outOfMemory = false;
};

void splitName(const XML_Char* raw, std::string& ns, std::string& local, std::string& prefix) {
  std::string_view name(raw);
  size_t first = name.find(kSeparator);
  if (first == std::string_view::npos) {
    local = name;
    return;
  }
  ns = name.substr(0, first);
  std::string_view rest = name.substr(first + 1);
  size_t second = rest.find(kSeparator);
  local = rest.substr(0, second);
  if (second != std::string_view::npos) prefix = rest.substr(second + 1);
}

// The node new content goes into: the innermost open element's children.
std::vector<XmlNode>* currentChildren(ParseState& state) {
  return state.open.empty() ? nullptr : &state.open.back()->children;
}

// Handlers run inside expat's C frames: nothing may be thrown through them (only an allocation
// can throw here).
template <typename Fn>
void guarded(ParseState& state, Fn&& fn) {
  try {
    fn();
  } catch (...) {
    state.outOfMemory = true;
    XML_StopParser(state.parser, XML_FALSE);
  }
}

// Counts a new node; false (and the parser stopped) past kMaxXmlNodes.
bool countNode(ParseState& state) {
  if (++state.nodes <= kMaxXmlNodes) return true;
  state.tooMany = true;
  XML_StopParser(state.parser, XML_FALSE);
  return false;
}

void XMLCALL onStart(void* data, const XML_Char* name, const XML_Char** attributes) {
  auto& state = *static_cast<ParseState*>(data);
  if (static_cast<int>(state.open.size()) >= kMaxXmlDepth) {
    state.tooDeep = true;
    XML_StopParser(state.parser, XML_FALSE);
    return;
  }
  if (!countNode(state)) return;
  guarded(state, [&] {
    XmlNode element;
    splitName(name, element.ns, element.name, element.prefix);
    for (const XML_Char** a = attributes; a[0] != nullptr; a += 2) {
      XmlAttribute attribute;
      splitName(a[0], attribute.ns, attribute.name, attribute.prefix);
      attribute.value = a[1];
      element.attributes.push_back(std::move(attribute));
    }
    XmlNode* placed = nullptr;
    if (std::vector<XmlNode>* siblings = currentChildren(state)) {
      siblings->push_back(std::move(element));
      placed = &siblings->back();
    } else {
      state.root = std::move(element);
      placed = &state.root;
    }
    state.open.push_back(placed);
  });
}

void XMLCALL onEnd(void* data, const XML_Char*) {
  auto& state = *static_cast<ParseState*>(data);
  if (!state.open.empty()) state.open.pop_back();
}

void XMLCALL onText(void* data, const XML_Char* text, int length) {
  auto& state = *static_cast<ParseState*>(data);
  std::vector<XmlNode>* siblings = currentChildren(state);
  if (siblings == nullptr) return;
  guarded(state, [&] {
    if (siblings->empty() || siblings->back().kind != XmlNode::Kind::kText) {
      if (!countNode(state)) return;
      XmlNode node;
      node.kind = XmlNode::Kind::kText;
      siblings->push_back(std::move(node));
    }
    siblings->back().text.append(text, static_cast<size_t>(length));
  });
}

void XMLCALL onInstruction(void* data, const XML_Char* target, const XML_Char*) {
  auto& state = *static_cast<ParseState*>(data);
  std::vector<XmlNode>* siblings = currentChildren(state);
  if (siblings == nullptr || !countNode(state)) return;
  guarded(state, [&] {
    XmlNode node;
    node.kind = XmlNode::Kind::kInstruction;
    node.name = target;
    siblings->push_back(std::move(node));
  });
}

// A DOCTYPE is where entities and external subsets are declared: stop before reading any of it.
void XMLCALL onDoctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  auto& state = *static_cast<ParseState*>(data);
  state.doctype = true;
  XML_StopParser(state.parser, XML_FALSE);
}

// Line and column (both from 1) of byte `offset` of `text`.
std::pair<size_t, size_t> lineAndColumn(std::string_view text, size_t offset) {
  size_t line = 1;
  size_t lineStart = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      lineStart = i + 1;
    }
  }
  return {line, offset - lineStart + 1};
}

// What the document holds from byte `offset`, for an error to quote: to the end of its line, at
// most 40 bytes, never cutting a UTF-8 character (the document is valid UTF-8 by then).
std::string excerptAt(std::string_view text, size_t offset) {
  if (offset >= text.size()) return {};
  std::string_view rest = text.substr(offset, 40);
  rest = rest.substr(0, rest.find_first_of("\r\n"));
  // A byte 10xxxxxx continues the character before it: cut before that character instead.
  while (!rest.empty() && offset + rest.size() < text.size() &&
         (static_cast<unsigned char>(text[offset + rest.size()]) & 0xC0) == 0x80) {
    rest.remove_suffix(1);
  }
  return std::string(rest);
}

// The first reference to an entity other than XML's five ("&name;") from byte `offset` on: expat
// points at the token that holds it (the start tag, for one in an attribute), not at the name.
std::string undefinedReference(std::string_view text, size_t offset) {
  for (size_t amp = text.find('&', offset); amp != std::string_view::npos;
       amp = text.find('&', amp + 1)) {
    size_t semicolon = text.substr(amp, 66).find(';');  // a name of up to 64 bytes
    if (semicolon == std::string_view::npos) continue;
    semicolon += amp;
    std::string_view entity = text.substr(amp + 1, semicolon - amp - 1);
    if (entity.empty() || entity.front() == '#' ||
        entity.find_first_of(" \t\r\n<>&'\"") != std::string_view::npos) {
      continue;
    }
    if (entity == "lt" || entity == "gt" || entity == "amp" || entity == "apos" ||
        entity == "quot") {
      continue;
    }
    return std::string(text.substr(amp, semicolon - amp + 1));
  }
  return excerptAt(text, offset);
}

void appendText(const XmlNode& node, std::string& out) {
  if (node.kind == XmlNode::Kind::kText) out += node.text;
  for (const XmlNode& child : node.children) appendText(child, out);
}

}  // namespace

Result<XmlNode> readXml(std::string_view xml, std::string_view what) {
  const std::string name(what);
  if (xml.size() > kMaxXmlBytes) {
    return invalidArgument(name + " is " + std::to_string(xml.size()) + " bytes, more than the " +
                           std::to_string(kMaxXmlBytes) + " bytes accepted");
  }
  // Checked first, so that the error can say so: expat calls any byte that does not begin a
  // character an "invalid token".
  if (std::optional<size_t> bad = firstInvalidUtf8(xml)) {
    auto [line, column] = lineAndColumn(xml, *bad);
    auto byte = static_cast<unsigned char>(xml[*bad]);
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", byte);
    std::string where = " at line " + std::to_string(line) + ", column " + std::to_string(column);
    return invalidArgument(
        name + " is not valid XML: " +
        (byte == 0 ? "it holds a NUL byte" + where
                   : "it is not UTF-8 (byte " + std::string(hex) + where +
                         " does not begin a character; libvirt writes definitions in UTF-8)"));
  }
  // "UTF-8" here overrides whatever encoding the document declares.
  ParserPtr parser(XML_ParserCreateNS("UTF-8", kSeparator));
  if (!parser) return failed("cannot make an XML parser (out of memory)");
  ParseState state;
  state.parser = parser.get();
  XML_SetReturnNSTriplet(parser.get(), XML_TRUE);
  XML_SetUserData(parser.get(), &state);
  XML_SetElementHandler(parser.get(), onStart, onEnd);
  XML_SetCharacterDataHandler(parser.get(), onText);
  XML_SetProcessingInstructionHandler(parser.get(), onInstruction);
  XML_SetStartDoctypeDeclHandler(parser.get(), onDoctype);
  // No external entity handler: expat then never opens a file or a URL; parameter entities stay
  // unparsed (the default, said again here).
  XML_SetParamEntityParsing(parser.get(), XML_PARAM_ENTITY_PARSING_NEVER);
  XML_Status status = XML_Parse(parser.get(), xml.data(), static_cast<int>(xml.size()), XML_TRUE);
  if (state.doctype) {
    return invalidArgument(name +
                           " has a <!DOCTYPE>, which is refused: DTDs and entities could make "
                           "the reader expand data without bound or read files");
  }
  if (state.tooDeep) {
    return invalidArgument(name + " nests elements deeper than " + std::to_string(kMaxXmlDepth) +
                           " levels, which is refused");
  }
  if (state.tooMany) {
    return invalidArgument(name + " holds more than " + std::to_string(kMaxXmlNodes) +
                           " elements and runs of text, which is refused");
  }
  if (state.outOfMemory) return failed("cannot read " + name + " (out of memory)");
  if (status != XML_STATUS_OK) {
    XML_Error code = XML_GetErrorCode(parser.get());
    if (code == XML_ERROR_NO_MEMORY) return failed("cannot read " + name + " (out of memory)");
    const XML_LChar* why = XML_ErrorString(code);
    XML_Index at = XML_GetCurrentByteIndex(parser.get());
    std::string excerpt;
    if (at >= 0 && code == XML_ERROR_UNDEFINED_ENTITY) {
      excerpt = undefinedReference(xml, static_cast<size_t>(at));
    } else if (at >= 0) {
      excerpt = excerptAt(xml, static_cast<size_t>(at));
    }
    return invalidArgument(name + " is not valid XML (line " +
                           std::to_string(XML_GetCurrentLineNumber(parser.get())) + ", column " +
                           std::to_string(XML_GetCurrentColumnNumber(parser.get()) + 1) +
                           "): " + (why != nullptr ? why : "it is not well-formed") +
                           (excerpt.empty() ? std::string() : ", at '" + excerpt + "'"));
  }
  // expat fails a document without an element ("no element found"): a parse that succeeded has
  // its root.
  return std::move(state.root);
}

bool isElement(const XmlNode& node, std::string_view name, std::string_view href) {
  return node.kind == XmlNode::Kind::kElement && node.name == name && node.ns == href;
}

std::string qualifiedName(const XmlNode& node) {
  return node.prefix.empty() ? node.name : node.prefix + ":" + node.name;
}

std::string attributeName(const XmlAttribute& attr) {
  return attr.prefix.empty() ? attr.name : attr.prefix + ":" + attr.name;
}

std::string textOf(const XmlNode& node) {
  std::string out;
  appendText(node, out);
  return out;
}

const XmlNode* childElement(const XmlNode& parent, std::string_view name) {
  for (const XmlNode& child : parent.children) {
    if (isElement(child, name)) return &child;
  }
  return nullptr;
}

std::string attributeOf(const XmlNode& node, std::string_view name) {
  for (const XmlAttribute& a : node.attributes) {
    if (a.ns.empty() && a.name == name) return a.value;
  }
  return {};
}

}  // namespace virtscratch::vocabulary
