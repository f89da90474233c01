// Fuzzes the reader of domain definitions that the hook feeds from libvirt's stdin and the
// daemon's watcher from virDomainGetXMLDesc: it must never crash or hang, every refusal must say
// why, and what it accepts must survive a round trip through the metadata writer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "vocabulary/scratch_metadata.h"

namespace {

using virtscratch::vocabulary::DomainScratch;
using virtscratch::vocabulary::ScratchDisk;

bool sameDisk(const ScratchDisk& a, const ScratchDisk& b) {
  return a.target == b.target && a.size == b.size && a.sizePerVcpu == b.sizePerVcpu &&
         a.format == b.format && a.filesystem == b.filesystem && a.label == b.label &&
         a.partition == b.partition && a.lifetime == b.lifetime && a.attach == b.attach;
}

// The accepted disks, written back as libvirt would store them, must read back the same.
void checkRoundTrip(const DomainScratch& parsed) {
  std::string metadata = virtscratch::vocabulary::metadataXml(parsed.disks);
  // libvirt declares the namespace on the element it stores; the writer leaves that to it.
  std::string_view open = "<disks";
  if (metadata.compare(0, open.size(), open) != 0) std::abort();
  metadata.insert(open.size(),
                  " xmlns=\"" + std::string(virtscratch::vocabulary::kNamespace) + "\"");
  std::string xml = "<domain><name>n</name><uuid>" + parsed.uuid + "</uuid><metadata>" + metadata +
                    "</metadata></domain>";
  auto again = virtscratch::vocabulary::parseDomainXml(xml);
  if (!again.ok() || again->disks.size() != parsed.disks.size()) std::abort();
  for (size_t i = 0; i < parsed.disks.size(); ++i) {
    if (!sameDisk(parsed.disks[i], again->disks[i])) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  auto parsed = virtscratch::vocabulary::parseDomainXml(xml);
  if (!parsed.ok()) {
    if (parsed.status().message().empty()) std::abort();
    return 0;
  }
  if (parsed->vcpus == 0) std::abort();
  for (const ScratchDisk& disk : parsed->disks) {
    if (disk.target.empty() || (disk.size == 0) == (disk.sizePerVcpu == 0)) std::abort();
    // Any vCPU count either gives a size or a reason.
    auto sized = virtscratch::vocabulary::diskSize(disk, parsed->vcpus);
    if (!sized.ok() && sized.status().message().empty()) std::abort();
  }
  checkRoundTrip(*parsed);
  return 0;
}
