#include "cli/client/domain_edit.h"

#include <algorithm>
#include <cstdlib>

#include "cli/client/domain_xml.h"
#include "vocabulary/disk_secret.h"
#include "vocabulary/disk_xml.h"
#include "vocabulary/domain_uuid.h"
#include "vocabulary/pool_layout.h"

namespace virtscratch::cli {
namespace {

constexpr char kDefaultUri[] = "qemu:///system";

Status libvirtError(std::string_view what) {
  const char* message = libvirt().getLastErrorMessage();
  return failed(std::string(what) + ": " +
                (message != nullptr ? message : "unknown libvirt error"));
}

Result<DomainPtr> lookup(virConnectPtr conn, std::string_view domain) {
  std::string text(domain);
  DomainPtr dom;
  if (vocabulary::isUuid(text)) dom.reset(libvirt().domainLookupByUUIDString(conn, text.c_str()));
  if (!dom) dom.reset(libvirt().domainLookupByName(conn, text.c_str()));
  if (dom) return dom;
  if (libvirt().getLastErrorCode() == VIR_ERR_NO_DOMAIN) {
    const char* uri = libvirt().connectGetURI(conn);
    std::string where = uri != nullptr ? uri : "libvirt";
    std::free(const_cast<char*>(uri));
    return Status(ErrorCode::kNotFound,
                  "no domain '" + text + "' at " + where + " (see virsh list --all)");
  }
  return libvirtError("cannot look up domain '" + text + "'");
}

Result<EditedDomain> describe(virDomainPtr dom) {
  EditedDomain out;
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (libvirt().domainGetUUIDString(dom, uuid) < 0)
    return libvirtError("cannot read the domain's UUID");
  out.uuid = vocabulary::normaliseUuid(uuid);
  const char* name = libvirt().domainGetName(dom);
  out.name = name != nullptr ? name : out.uuid;
  out.running = libvirt().domainIsActive(dom) == 1;
  if (libvirt().domainIsPersistent(dom) != 1) {
    return invalidArgument("domain '" + out.name +
                           "' is transient: enable and disable change the persistent "
                           "definition; define it first (virsh define)");
  }
  return out;
}

Result<std::string> inactiveXml(virDomainPtr dom, const std::string& name) {
  char* xml = libvirt().domainGetXMLDesc(dom, VIR_DOMAIN_XML_INACTIVE);
  if (xml == nullptr) return libvirtError("cannot read the definition of domain '" + name + "'");
  std::string text(xml);
  std::free(xml);
  return text;
}

Result<vocabulary::DomainScratch> readScratch(const std::string& xml, const std::string& name) {
  auto scratch = vocabulary::parseDomainXml(xml);
  if (!scratch.ok()) {
    return invalidArgument("the scratch metadata of domain '" + name + "' cannot be read: " +
                           scratch.status().message() + "; fix it with virsh edit");
  }
  return scratch;
}

// Replaces `old` (may be null) by `newXml` (may be empty) in the definition.
Status changeDisk(virConnectPtr conn, virDomainPtr dom, const std::string& name,
                  const DiskElement* old, const std::string& newXml) {
  constexpr unsigned kConfig = VIR_DOMAIN_AFFECT_CONFIG;
  bool redefine = false;
  if (old != nullptr && libvirt().domainDetachDeviceFlags(dom, old->xml.c_str(), kConfig) < 0) {
    if (libvirt().getLastErrorCode() != VIR_ERR_NO_SUPPORT) {
      return libvirtError("cannot remove disk " + old->target + " from domain '" + name + "'");
    }
    redefine = true;
  }
  if (!redefine && !newXml.empty() &&
      libvirt().domainAttachDeviceFlags(dom, newXml.c_str(), kConfig) < 0) {
    if (libvirt().getLastErrorCode() != VIR_ERR_NO_SUPPORT || old != nullptr) {
      return libvirtError("cannot add the scratch disk to domain '" + name + "'");
    }
    redefine = true;
  }
  if (!redefine) return {};
  // The driver cannot change devices of a definition: write the whole definition instead.
  VS_ASSIGN_OR_RETURN(std::string xml, inactiveXml(dom, name));
  VS_ASSIGN_OR_RETURN(std::string edited,
                      editDisks(xml, old != nullptr ? old->target : std::string(), newXml));
  DomainPtr defined(libvirt().domainDefineXML(conn, edited.c_str()));
  if (!defined) return libvirtError("cannot redefine domain '" + name + "'");
  return {};
}

Status writeMetadata(virDomainPtr dom, const std::string& name,
                     const std::vector<vocabulary::ScratchDisk>& disks) {
  std::string uri(vocabulary::kNamespace);
  int rc = disks.empty()
               ? libvirt().domainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, nullptr, nullptr,
                                             uri.c_str(), VIR_DOMAIN_AFFECT_CONFIG)
               : libvirt().domainSetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
                                             vocabulary::metadataXml(disks).c_str(),
                                             std::string(vocabulary::kPrefix).c_str(), uri.c_str(),
                                             VIR_DOMAIN_AFFECT_CONFIG);
  if (rc < 0) return libvirtError("cannot write the scratch metadata of domain '" + name + "'");
  return {};
}

const DiskElement* findDisk(const std::vector<DiskElement>& disks, std::string_view target) {
  for (const DiskElement& d : disks) {
    if (d.target == target) return &d;
  }
  return nullptr;
}

bool isScratch(const DiskElement& disk) {
  return disk.serial == vocabulary::diskSerial(disk.target);
}

}  // namespace

Result<ConnectPtr> openLibvirt(const std::optional<std::string>& uri) {
  VS_RETURN_IF_ERROR(loadLibvirt().status());
  libvirt().setErrorFunc(nullptr, [](void*, virErrorPtr) {});
  std::string chosen = kDefaultUri;
  if (uri) {
    chosen = *uri;
  } else if (const char* env = std::getenv("LIBVIRT_DEFAULT_URI"); env != nullptr && *env) {
    chosen = env;
  }
  ConnectPtr conn(libvirt().connectOpen(chosen.c_str()));
  if (!conn) return libvirtError("cannot connect to libvirt at " + chosen);
  return conn;
}

Result<EditedDomain> enableScratchDisk(virConnectPtr conn, std::string_view domain,
                                       const vocabulary::ScratchDisk& disk,
                                       std::string_view poolPath) {
  VS_RETURN_IF_ERROR(loadLibvirt().status());
  VS_ASSIGN_OR_RETURN(DomainPtr dom, lookup(conn, domain));
  VS_ASSIGN_OR_RETURN(EditedDomain out, describe(dom.get()));
  VS_ASSIGN_OR_RETURN(std::string xml, inactiveXml(dom.get(), out.name));
  VS_ASSIGN_OR_RETURN(vocabulary::DomainScratch scratch, readScratch(xml, out.name));
  VS_ASSIGN_OR_RETURN(std::vector<DiskElement> disks, listDisks(xml));
  const DiskElement* old = findDisk(disks, disk.target);
  if (old != nullptr && !isScratch(*old)) {
    return Status(ErrorCode::kAlreadyExists,
                  "domain '" + out.name + "' has a disk " + disk.target +
                      " already, and it is not a scratch disk; choose another --target");
  }
  std::string newXml;
  if (disk.attach == vocabulary::Attach::kBoot) {
    if (poolPath.empty()) return invalidArgument("the pool's path is needed for attach='boot'");
    // The file is made by the hook at `prepare begin`, before QEMU opens it.
    bool encrypted = disk.encryption == image::Encryption::kLuks;
    newXml = vocabulary::diskXml(
        vocabulary::imagePath(poolPath, out.uuid, disk.target, disk.format), disk.format,
        disk.target, vocabulary::Attach::kBoot,
        {.discard = disk.discard.value_or(false),
         .secretUuid =
             encrypted ? vocabulary::secretUuidOf(out.uuid, disk.target) : std::string()});
  }
  if (old != nullptr || !newXml.empty()) {
    VS_RETURN_IF_ERROR(changeDisk(conn, dom.get(), out.name, old, newXml));
  }
  std::vector<vocabulary::ScratchDisk> entries;
  for (const vocabulary::ScratchDisk& d : scratch.disks) {
    if (d.target != disk.target) entries.push_back(d);
  }
  entries.push_back(disk);
  VS_RETURN_IF_ERROR(writeMetadata(dom.get(), out.name, entries));
  out.targets = {disk.target};
  return out;
}

Result<EditedDomain> disableScratchDisks(virConnectPtr conn, std::string_view domain,
                                         const std::optional<std::string>& target) {
  VS_RETURN_IF_ERROR(loadLibvirt().status());
  VS_ASSIGN_OR_RETURN(DomainPtr dom, lookup(conn, domain));
  VS_ASSIGN_OR_RETURN(EditedDomain out, describe(dom.get()));
  VS_ASSIGN_OR_RETURN(std::string xml, inactiveXml(dom.get(), out.name));
  VS_ASSIGN_OR_RETURN(vocabulary::DomainScratch scratch, readScratch(xml, out.name));
  VS_ASSIGN_OR_RETURN(std::vector<DiskElement> disks, listDisks(xml));
  std::vector<std::string> targets;
  auto add = [&targets](const std::string& t) {
    if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
  };
  for (const vocabulary::ScratchDisk& d : scratch.disks) {
    if (!target || d.target == *target) add(d.target);
  }
  for (const DiskElement& d : disks) {
    if (isScratch(d) && (!target || d.target == *target)) add(d.target);
  }
  if (targets.empty()) {
    return Status(ErrorCode::kNotFound, "domain '" + out.name + "' has no scratch disk" +
                                            (target ? " " + *target : std::string("s")) +
                                            " (virt-scratch enable adds one)");
  }
  for (const std::string& t : targets) {
    const DiskElement* old = findDisk(disks, t);
    if (old != nullptr && isScratch(*old)) {
      VS_RETURN_IF_ERROR(changeDisk(conn, dom.get(), out.name, old, {}));
    }
  }
  std::vector<vocabulary::ScratchDisk> remaining;
  for (const vocabulary::ScratchDisk& d : scratch.disks) {
    if (std::find(targets.begin(), targets.end(), d.target) == targets.end()) {
      remaining.push_back(d);
    }
  }
  if (remaining.size() != scratch.disks.size()) {
    VS_RETURN_IF_ERROR(writeMetadata(dom.get(), out.name, remaining));
  }
  out.targets = std::move(targets);
  return out;
}

}  // namespace virtscratch::cli
