#include "vocabulary/xml_document.h"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include <mutex>

namespace virtscratch::vocabulary {
namespace {

struct ParserCtxtFree {
  void operator()(xmlParserCtxt* ctxt) const { xmlFreeParserCtxt(ctxt); }
};
using ParserCtxtPtr = std::unique_ptr<xmlParserCtxt, ParserCtxtFree>;

// What the SAX hooks saw; reached through the context's _private, which libxml2 leaves alone.
struct ParseState {
  bool doctype = false;
  bool tooDeep = false;
  int depth = 0;
  std::string firstError;
  int firstErrorLine = 0;
};

ParseState& stateOf(void* ctx) {
  return *static_cast<ParseState*>(static_cast<xmlParserCtxt*>(ctx)->_private);
}

// A DOCTYPE is where entities and external subsets are declared: stop before reading any of it.
void onDoctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  stateOf(ctx).doctype = true;
  xmlStopParser(static_cast<xmlParserCtxt*>(ctx));
}

void onStartElement(void* ctx, const xmlChar* localname, const xmlChar* prefix, const xmlChar* uri,
                    int nbNamespaces, const xmlChar** namespaces, int nbAttributes, int nbDefaulted,
                    const xmlChar** attributes) {
  ParseState& state = stateOf(ctx);
  if (++state.depth > kMaxXmlDepth) {
    state.tooDeep = true;
    xmlStopParser(static_cast<xmlParserCtxt*>(ctx));
    return;
  }
  xmlSAX2StartElementNs(ctx, localname, prefix, uri, nbNamespaces, namespaces, nbAttributes,
                        nbDefaulted, attributes);
}

void onEndElement(void* ctx, const xmlChar* localname, const xmlChar* prefix, const xmlChar* uri) {
  --stateOf(ctx).depth;
  xmlSAX2EndElementNs(ctx, localname, prefix, uri);
}

// Keeps the first error (the later ones follow from it); prints nothing.
void onError(void* ctx, xmlError* error) {
  ParseState& state = stateOf(ctx);
  if (!state.firstError.empty() || error == nullptr || error->message == nullptr) return;
  state.firstError = error->message;
  while (!state.firstError.empty() &&
         (state.firstError.back() == '\n' || state.firstError.back() == ' ')) {
    state.firstError.pop_back();
  }
  state.firstErrorLine = error->line;
}

std::string takeString(xmlChar* text) {
  if (text == nullptr) return {};
  std::string out(reinterpret_cast<const char*>(text));
  xmlFree(text);
  return out;
}

}  // namespace

Result<XmlDocPtr> readXml(std::string_view xml, std::string_view what) {
  const std::string name(what);
  if (xml.size() > kMaxXmlBytes) {
    return invalidArgument(name + " is " + std::to_string(xml.size()) + " bytes, more than the " +
                           std::to_string(kMaxXmlBytes) + " bytes accepted");
  }
  static std::once_flag initOnce;
  std::call_once(initOnce, [] { xmlInitParser(); });

  ParserCtxtPtr ctxt(xmlNewParserCtxt());
  if (!ctxt || ctxt->sax == nullptr) return failed("cannot make an XML parser (out of memory)");
  ParseState state;
  ctxt->_private = &state;
  ctxt->sax->internalSubset = onDoctype;
  ctxt->sax->startElementNs = onStartElement;
  ctxt->sax->endElementNs = onEndElement;
  ctxt->sax->serror = onError;
  // Deliberately absent: XML_PARSE_NOENT (substitute entities), XML_PARSE_DTDLOAD,
  // XML_PARSE_DTDATTR, XML_PARSE_XINCLUDE and XML_PARSE_HUGE (lifts libxml2's own limits).
  constexpr int kOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
  XmlDocPtr doc(xmlCtxtReadMemory(ctxt.get(), xml.data(), static_cast<int>(xml.size()), nullptr,
                                  "UTF-8", kOptions));
  // xmlStopParser does not always mark the document malformed: check what stopped it first.
  if (state.doctype) {
    return invalidArgument(name +
                           " has a <!DOCTYPE>, which is refused: DTDs and entities could make "
                           "the reader expand data without bound or read files");
  }
  if (state.tooDeep) {
    return invalidArgument(name + " nests elements deeper than " + std::to_string(kMaxXmlDepth) +
                           " levels, which is refused");
  }
  if (!doc || !ctxt->wellFormed) {
    std::string why = state.firstError.empty() ? "it is not well-formed" : state.firstError;
    return invalidArgument(name + " is not valid XML (line " +
                           std::to_string(state.firstErrorLine) + "): " + why);
  }
  if (xmlDocGetRootElement(doc.get()) == nullptr) {
    return invalidArgument(name + " has no root element");
  }
  return doc;
}

bool isElement(const xmlNode* node, std::string_view name, std::string_view href) {
  if (node == nullptr || node->type != XML_ELEMENT_NODE) return false;
  if (std::string_view(reinterpret_cast<const char*>(node->name)) != name) return false;
  if (href.empty()) return node->ns == nullptr;
  return node->ns != nullptr && node->ns->href != nullptr &&
         std::string_view(reinterpret_cast<const char*>(node->ns->href)) == href;
}

std::string qualifiedName(const xmlNode* node) {
  std::string out;
  if (node->ns != nullptr && node->ns->prefix != nullptr) {
    out = reinterpret_cast<const char*>(node->ns->prefix);
    out += ':';
  }
  out += reinterpret_cast<const char*>(node->name);
  return out;
}

std::string attributeName(const xmlAttr* attr) {
  std::string out;
  if (attr->ns != nullptr && attr->ns->prefix != nullptr) {
    out = reinterpret_cast<const char*>(attr->ns->prefix);
    out += ':';
  }
  out += reinterpret_cast<const char*>(attr->name);
  return out;
}

std::string attributeValue(const xmlAttr* attr) {
  return takeString(xmlNodeListGetString(attr->doc, attr->children, 1));
}

std::string textOf(const xmlNode* node) { return takeString(xmlNodeGetContent(node)); }

}  // namespace virtscratch::vocabulary
