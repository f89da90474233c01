#include "cli/client/domain_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <memory>

namespace virtscratch::cli {
namespace {

struct DocFreer {
  void operator()(xmlDocPtr doc) const { xmlFreeDoc(doc); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocFreer>;

// Without XML_PARSE_NOENT entities stay unexpanded; without DTDLOAD nothing is fetched.
constexpr int kParseOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;

struct CtxtFreer {
  void operator()(xmlParserCtxtPtr ctxt) const { xmlFreeParserCtxt(ctxt); }
};

// A DOCTYPE is where entities and external subsets are declared: the parser stops as soon as it
// meets one, before any declaration in it is read. libvirt never writes one.
void onDoctype(void* userData, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto ctxt = static_cast<xmlParserCtxtPtr>(userData);
  ctxt->_private = ctxt;  // marks "stopped at a DOCTYPE"
  xmlStopParser(ctxt);
}

Result<DocPtr> parse(std::string_view xml, std::string_view what) {
  std::unique_ptr<xmlParserCtxt, CtxtFreer> ctxt(xmlNewParserCtxt());
  if (!ctxt) return failed("cannot read " + std::string(what) + " (out of memory)");
  ctxt->sax->internalSubset = onDoctype;
  ctxt->_private = nullptr;
  DocPtr doc(xmlCtxtReadMemory(ctxt.get(), xml.data(), static_cast<int>(xml.size()), nullptr,
                               nullptr, kParseOptions));
  if (ctxt->_private != nullptr) {
    return invalidArgument(std::string(what) +
                           " has a <!DOCTYPE>, which is refused: DTDs and entities could make "
                           "the reader expand data without bound or read files");
  }
  if (!doc || xmlDocGetRootElement(doc.get()) == nullptr) {
    return invalidArgument(std::string(what) + " is not well-formed XML");
  }
  return doc;
}

bool named(xmlNodePtr node, const char* name) {
  return node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, BAD_CAST name) == 0;
}

xmlNodePtr child(xmlNodePtr parent, const char* name) {
  for (xmlNodePtr n = parent->children; n != nullptr; n = n->next) {
    if (named(n, name)) return n;
  }
  return nullptr;
}

std::string attribute(xmlNodePtr node, const char* name) {
  xmlChar* value = xmlGetProp(node, BAD_CAST name);
  if (value == nullptr) return {};
  std::string text(reinterpret_cast<const char*>(value));
  xmlFree(value);
  return text;
}

std::string content(xmlNodePtr node) {
  xmlChar* value = xmlNodeGetContent(node);
  if (value == nullptr) return {};
  std::string text(reinterpret_cast<const char*>(value));
  xmlFree(value);
  return text;
}

std::string targetOf(xmlNodePtr disk) {
  xmlNodePtr target = child(disk, "target");
  return target == nullptr ? std::string() : attribute(target, "dev");
}

Result<xmlNodePtr> devicesOf(xmlDocPtr doc) {
  xmlNodePtr root = xmlDocGetRootElement(doc);
  if (!named(root, "domain")) return invalidArgument("the definition's root is not <domain>");
  xmlNodePtr devices = child(root, "devices");
  if (devices == nullptr) devices = xmlNewChild(root, nullptr, BAD_CAST "devices", nullptr);
  return devices;
}

}  // namespace

Result<std::vector<DiskElement>> listDisks(std::string_view domainXml) {
  VS_ASSIGN_OR_RETURN(DocPtr doc, parse(domainXml, "the domain definition"));
  VS_ASSIGN_OR_RETURN(xmlNodePtr devices, devicesOf(doc.get()));
  std::vector<DiskElement> disks;
  for (xmlNodePtr n = devices->children; n != nullptr; n = n->next) {
    if (!named(n, "disk")) continue;
    DiskElement disk;
    disk.target = targetOf(n);
    if (xmlNodePtr serial = child(n, "serial")) disk.serial = content(serial);
    std::unique_ptr<xmlBuffer, decltype(&xmlBufferFree)> buffer(xmlBufferCreate(), xmlBufferFree);
    xmlNodeDump(buffer.get(), doc.get(), n, 0, 0);
    disk.xml = reinterpret_cast<const char*>(xmlBufferContent(buffer.get()));
    disks.push_back(std::move(disk));
  }
  return disks;
}

Result<std::string> editDisks(std::string_view domainXml, std::string_view removeTarget,
                              std::string_view addDiskXml) {
  VS_ASSIGN_OR_RETURN(DocPtr doc, parse(domainXml, "the domain definition"));
  VS_ASSIGN_OR_RETURN(xmlNodePtr devices, devicesOf(doc.get()));
  if (!removeTarget.empty()) {
    for (xmlNodePtr n = devices->children; n != nullptr;) {
      xmlNodePtr next = n->next;
      if (named(n, "disk") && targetOf(n) == removeTarget) {
        xmlUnlinkNode(n);
        xmlFreeNode(n);
      }
      n = next;
    }
  }
  if (!addDiskXml.empty()) {
    VS_ASSIGN_OR_RETURN(DocPtr disk, parse(addDiskXml, "the disk element"));
    xmlNodePtr copy = xmlDocCopyNode(xmlDocGetRootElement(disk.get()), doc.get(), 1);
    if (copy == nullptr) return failed("cannot copy the disk element (out of memory)");
    xmlAddChild(devices, copy);
  }
  xmlChar* text = nullptr;
  int size = 0;
  xmlDocDumpMemory(doc.get(), &text, &size);
  if (text == nullptr) return failed("cannot write the domain definition (out of memory)");
  std::string out(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
  xmlFree(text);
  return out;
}

}  // namespace virtscratch::cli
