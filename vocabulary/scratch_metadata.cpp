#include "vocabulary/scratch_metadata.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "image/filesystem.h"
#include "image/size.h"
#include "vocabulary/discard.h"
#include "vocabulary/domain_uuid.h"
#include "vocabulary/target.h"
#include "vocabulary/xml_document.h"
#include "vocabulary/xml_escape.h"

namespace virtscratch::vocabulary {
namespace {

constexpr std::string_view kDefinition = "the domain definition";

std::string trimmed(std::string_view text) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && space(text.front())) text.remove_prefix(1);
  while (!text.empty() && space(text.back())) text.remove_suffix(1);
  return std::string(text);
}

Result<uint32_t> parseVcpus(std::string_view raw) {
  std::string text = trimmed(raw);
  uint64_t n = 0;
  bool ok = !text.empty() && text.size() <= 10;
  for (char c : text) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || n == 0 || n > UINT32_MAX) {
    return invalidArgument(std::string(kDefinition) + " has <vcpu>" + text +
                           "</vcpu>, which is not a count of vCPUs");
  }
  return static_cast<uint32_t>(n);
}

// The attributes of one <scratch:disk>, each checked on its own, then together.
Result<ScratchDisk> parseDisk(const XmlNode& node, size_t number) {
  static constexpr std::array<std::string_view, 11> kKnown = {
      "target",   "size",   "size-per-vcpu", "format",     "filesystem", "partition",
      "lifetime", "attach", "label",         "encryption", "discard"};
  std::map<std::string, std::string, std::less<>> attributes;
  std::string where = "scratch disk number " + std::to_string(number);
  for (const XmlAttribute& a : node.attributes) {
    std::string name = attributeName(a);
    const std::string& value = a.value;
    if (!a.ns.empty() || std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end()) {
      return invalidArgument(where + " has the unknown attribute " + name + "='" + value +
                             "' (known: target, size, size-per-vcpu, format, filesystem, label, "
                             "partition, lifetime, attach, encryption, discard)");
    }
    attributes.emplace(std::move(name), value);
  }
  ScratchDisk disk;
  if (auto it = attributes.find("target"); it != attributes.end()) {
    if (std::string_view problem = targetProblem(it->second); !problem.empty()) {
      return invalidArgument(where + ": target='" + it->second + "' " + std::string(problem) +
                             " (" + std::string(kTargetRule) + ")");
    }
    disk.target = it->second;
  }
  where = "scratch disk " + disk.target;
  // Every other attribute's error names the disk, the attribute and its value.
  auto bad = [&where](const std::string& name, const std::string& value, const Status& why) {
    return why.withContext(where + ": " + name + "='" + value + "'");
  };
  for (const auto& [name, value] : attributes) {
    if (name == "size" || name == "size-per-vcpu") {
      auto size = image::parseSize(value);
      if (!size.ok()) return bad(name, value, size.status());
      (name == "size" ? disk.size : disk.sizePerVcpu) = *size;
    } else if (name == "format") {
      auto format = image::parseImageFormat(value);
      if (!format.ok()) return bad(name, value, format.status());
      disk.format = *format;
    } else if (name == "filesystem") {
      auto fs = image::parseFilesystem(value);
      if (!fs.ok()) return bad(name, value, fs.status());
      disk.filesystem = *fs;
    } else if (name == "partition") {
      auto table = image::parsePartitionTable(value);
      if (!table.ok()) return bad(name, value, table.status());
      disk.partition = *table;
    } else if (name == "lifetime") {
      auto lifetime = parseLifetime(value);
      if (!lifetime.ok()) return bad(name, value, lifetime.status());
      disk.lifetime = *lifetime;
    } else if (name == "attach") {
      auto attach = parseAttach(value);
      if (!attach.ok()) return bad(name, value, attach.status());
      disk.attach = *attach;
    } else if (name == "label") {
      disk.label = value;
    } else if (name == "encryption") {
      auto encryption = image::parseEncryption(value);
      if (!encryption.ok()) return bad(name, value, encryption.status());
      disk.encryption = *encryption;
    } else if (name == "discard") {
      auto discard = parseDiscard(value);
      if (!discard.ok()) return bad(name, value, discard.status());
      disk.discard = *discard;
    }
  }
  if (!disk.label.empty()) {
    if (Status s = image::validateLabel(disk.filesystem, disk.label); !s.ok()) {
      return bad("label", disk.label, s);
    }
  }
  if ((disk.size == 0) == (disk.sizePerVcpu == 0)) {
    return invalidArgument(where +
                           (disk.size == 0 ? " has neither size nor size-per-vcpu"
                                           : " has both size and size-per-vcpu") +
                           "; give exactly one, for example size='10G' or size-per-vcpu='5G'");
  }
  return disk;
}

// <scratch:disks>: only <scratch:disk> elements, no attributes, targets unique.
Result<std::vector<ScratchDisk>> parseDisks(const XmlNode& disks) {
  if (!disks.attributes.empty()) {
    const XmlAttribute& first = disks.attributes.front();
    return invalidArgument("<" + qualifiedName(disks) + "> has the unknown attribute " +
                           attributeName(first) + "='" + first.value + "' (it takes none)");
  }
  std::vector<ScratchDisk> out;
  std::set<std::string> targets;
  for (const XmlNode& child : disks.children) {
    if (child.kind == XmlNode::Kind::kText && trimmed(child.text).empty()) continue;
    if (!isElement(child, "disk", kNamespace)) {
      std::string what = child.kind == XmlNode::Kind::kElement
                             ? "the element <" + qualifiedName(child) + ">"
                             : "text";
      return invalidArgument("<" + qualifiedName(disks) + "> holds " + what +
                             "; it may hold only <disk> elements in its namespace " +
                             std::string(kNamespace));
    }
    VS_ASSIGN_OR_RETURN(ScratchDisk disk, parseDisk(child, out.size() + 1));
    if (!targets.insert(disk.target).second) {
      return invalidArgument("two scratch disks have target='" + disk.target +
                             "'; every scratch disk needs its own target");
    }
    out.push_back(std::move(disk));
  }
  return out;
}

// The one <disks> element of our namespace in <metadata>, whatever its prefix, or null.
Result<const XmlNode*> findDisks(const XmlNode& metadata) {
  const XmlNode* found = nullptr;
  for (const XmlNode& child : metadata.children) {
    bool ours = child.kind == XmlNode::Kind::kElement && child.ns == kNamespace;
    if (!ours) continue;
    if (!isElement(child, "disks", kNamespace)) {
      return invalidArgument("<metadata> holds <" + qualifiedName(child) + "> in namespace " +
                             std::string(kNamespace) + ", which knows only <disks>");
    }
    if (found != nullptr) {
      return invalidArgument("<metadata> holds more than one <" + qualifiedName(child) +
                             "> of namespace " + std::string(kNamespace) + "; keep one");
    }
    found = &child;
  }
  return found;
}

// A size as the shortest exact text parseSize reads back: "10G", "1536M", "4096".
std::string sizeText(uint64_t bytes) {
  static constexpr std::array<std::pair<char, int>, 5> kSuffixes = {
      {{'P', 50}, {'T', 40}, {'G', 30}, {'M', 20}, {'K', 10}}};
  for (auto [suffix, shift] : kSuffixes) {
    uint64_t unit = uint64_t{1} << shift;
    if (bytes != 0 && bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  }
  return std::to_string(bytes);
}

}  // namespace

Result<DomainScratch> parseDomainXml(std::string_view xml) {
  VS_ASSIGN_OR_RETURN(XmlNode root, readXml(xml, kDefinition));
  if (!isElement(root, "domain")) {
    return invalidArgument(std::string(kDefinition) + " has the root element <" +
                           qualifiedName(root) + ">, not <domain>");
  }
  DomainScratch out;
  const XmlNode* metadata = nullptr;
  bool haveName = false;
  // libvirt writes each of these once; a second one would let the hook and libvirt disagree on
  // which is meant (libvirt reads the first <metadata>, a careless reader the last <vcpu>).
  std::map<std::string, int> seen;
  for (const XmlNode& child : root.children) {
    for (const char* once : {"uuid", "name", "vcpu", "metadata"}) {
      if (isElement(child, once) && ++seen[once] > 1) {
        return invalidArgument(std::string(kDefinition) + " has more than one <" + once +
                               ">; a domain has one");
      }
    }
    if (isElement(child, "uuid") && out.uuid.empty()) {
      out.uuid = normaliseUuid(trimmed(textOf(child)));
      if (!isUuid(out.uuid)) {
        return invalidArgument(std::string(kDefinition) + " has <uuid>" + out.uuid +
                               "</uuid>, which is not a UUID (8-4-4-4-12 hex digits)");
      }
    } else if (isElement(child, "name") && !haveName) {
      out.name = textOf(child);
      haveName = true;
    } else if (isElement(child, "vcpu")) {
      VS_ASSIGN_OR_RETURN(out.vcpus, parseVcpus(textOf(child)));
    } else if (isElement(child, "metadata") && metadata == nullptr) {
      metadata = &child;
    }
  }
  if (out.uuid.empty()) return invalidArgument(std::string(kDefinition) + " has no <uuid>");
  if (out.name.empty()) return invalidArgument(std::string(kDefinition) + " has no <name>");
  if (metadata != nullptr) {
    VS_ASSIGN_OR_RETURN(const XmlNode* disks, findDisks(*metadata));
    if (disks != nullptr) {
      VS_ASSIGN_OR_RETURN(out.disks, parseDisks(*disks));
    }
  }
  return out;
}

std::string metadataXml(const std::vector<ScratchDisk>& disks) {
  // Unprefixed: virDomainSetMetadata puts every element without a namespace into the one it is
  // given; a prefix here would come out doubled ("scratch:scratch:disk").
  std::string out = "<disks>";
  for (const ScratchDisk& disk : disks) {
    out += "<disk";
    auto attribute = [&out](std::string_view name, std::string_view value) {
      out += ' ';
      out += name;
      out += "='";
      out += escapeXml(value);
      out += '\'';
    };
    attribute("target", disk.target);
    if (disk.size != 0) attribute("size", sizeText(disk.size));
    if (disk.sizePerVcpu != 0) attribute("size-per-vcpu", sizeText(disk.sizePerVcpu));
    attribute("format", image::toString(disk.format));
    attribute("filesystem", image::toString(disk.filesystem));
    if (!disk.label.empty()) attribute("label", disk.label);
    attribute("partition", image::toString(disk.partition));
    attribute("lifetime", toString(disk.lifetime));
    attribute("attach", toString(disk.attach));
    if (disk.encryption) attribute("encryption", image::toString(*disk.encryption));
    if (disk.discard) attribute("discard", discardName(*disk.discard));
    out += "/>";
  }
  out += "</disks>";
  return out;
}

Result<uint64_t> diskSize(const ScratchDisk& disk, uint32_t vcpus) {
  if (disk.size != 0) return disk.size;
  if (disk.sizePerVcpu == 0) {
    return invalidArgument("scratch disk " + disk.target + " has neither size nor size-per-vcpu");
  }
  if (vcpus == 0) {
    return invalidArgument("scratch disk " + disk.target +
                           ": size-per-vcpu needs a vCPU count of at least 1");
  }
  if (disk.sizePerVcpu > image::kDefaultMaxImageSize / vcpus) {
    return invalidArgument("scratch disk " + disk.target + ": size-per-vcpu " +
                           sizeText(disk.sizePerVcpu) + " times " + std::to_string(vcpus) +
                           " vCPUs is above the maximum of " +
                           image::formatSize(image::kDefaultMaxImageSize));
  }
  return disk.sizePerVcpu * vcpus;
}

std::string diskSerial(std::string_view target) { return "scratch-" + std::string(target); }

std::string_view toString(Attach attach) { return attach == Attach::kBoot ? "boot" : "hotplug"; }

Result<Attach> parseAttach(std::string_view name) {
  if (name == "boot") return Attach::kBoot;
  if (name == "hotplug") return Attach::kHotplug;
  return invalidArgument("unknown attach '" + std::string(name) + "' (known: boot, hotplug)");
}

AllocateSpec allocateSpecOf(const ScratchDisk& disk, uint32_t vcpus) {
  AllocateSpec spec;
  spec.image.format = disk.format;
  spec.image.filesystem = disk.filesystem;
  spec.image.label = disk.label;
  spec.image.partition = disk.partition;
  if (disk.size != 0) {
    spec.image.size = disk.size;
    spec.sizeGiven = true;
  } else {
    spec.sizePerVcpu = disk.sizePerVcpu;
    spec.vcpus = vcpus;
  }
  spec.target = disk.target;
  spec.lifetime = disk.lifetime;
  if (disk.encryption || disk.attach == Attach::kBoot) {
    spec.image.encryption = disk.encryption.value_or(image::Encryption::kNone);
    spec.encryptionGiven = true;
  }
  spec.discard = disk.discard;
  return spec;
}

}  // namespace virtscratch::vocabulary
