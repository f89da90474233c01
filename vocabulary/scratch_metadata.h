// The scratch disks a libvirt domain asks for, as written in its definition's metadata:
//
//   <metadata>
//     <scratch:disks xmlns:scratch="http://virtscratch.org/xmlns/scratch/1.0">
//       <scratch:disk target='vdb' size='10G' format='qcow2' filesystem='ext4' label='scratch'
//                     partition='none' lifetime='boot' attach='boot' encryption='luks'
//                     discard='unmap'/>
//     </scratch:disks>
//   </metadata>
//
// `size-per-vcpu='5G'` instead of `size` sizes the disk by the domain's vCPU count. Without
// `encryption`, a boot disk is not encrypted (its <disk> element, which `enable` wrote, says how
// QEMU opens it) and a hot-plugged disk is what the daemon's [pool] encryption says. Reading is
// done with expat with any DOCTYPE refused (xml_document.h), so a hostile definition can neither
// expand entities nor reach files or the network. Pure functions, callable from any thread. Used
// by the hook (plugin/), the CLI's enable/disable and the daemon's libvirt watcher.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/spec.h"
#include "vocabulary/allocate_spec.h"
#include "vocabulary/lifetime.h"

namespace virtscratch::vocabulary {

inline constexpr std::string_view kNamespace = "http://virtscratch.org/xmlns/scratch/1.0";
inline constexpr std::string_view kPrefix = "scratch";

enum class Attach { kBoot, kHotplug };  // boot: in the definition; hotplug: attached when started

struct ScratchDisk {
  std::string target = "vdb";  // guest device name (vocabulary/target.h)
  uint64_t size = 0;           // bytes; 0 when sizePerVcpu is used
  uint64_t sizePerVcpu = 0;    // bytes per vCPU; 0 when size is used
  image::ImageFormat format = image::ImageFormat::kQcow2;
  image::Filesystem filesystem = image::Filesystem::kExt4;
  std::string label;
  image::PartitionTable partition = image::PartitionTable::kNone;
  Lifetime lifetime = Lifetime::kBoot;
  Attach attach = Attach::kBoot;
  std::optional<image::Encryption> encryption;  // unset: as the comment at the top says
  // discard='unmap' (true) or 'ignore' (false), vocabulary/discard.h; unset: a boot disk's is
  // what `enable` wrote into its <disk>, a hot-plugged disk's what the daemon's [pool] discard
  // says.
  std::optional<bool> discard;
};

// What the hook, the CLI and the watcher need of a domain definition.
struct DomainScratch {
  std::string uuid;  // lower case
  std::string name;
  uint32_t vcpus = 1;              // <vcpu> (the maximum), 1 when absent
  std::vector<ScratchDisk> disks;  // empty when the domain asks for none
};

// Reads a whole domain definition (<domain>...</domain>, as virsh dumpxml and the hooks' stdin
// give it). Errors (kInvalidArgument) name the attribute and value that are wrong: unknown
// attributes or enum values, bad sizes, both or neither of size and size-per-vcpu, duplicate
// targets, malformed XML, nesting deeper than 64.
Result<DomainScratch> parseDomainXml(std::string_view xml);

// The <disks> element for virDomainSetMetadata, listing `disks`: unprefixed and without the
// namespace declaration, which libvirt adds from the key and URI given to it (a prefixed element
// would come back as <scratch:scratch:disks>).
std::string metadataXml(const std::vector<ScratchDisk>& disks);

// The size a disk gets on a domain with `vcpus` vCPUs; fails on overflow or above the limit.
Result<uint64_t> diskSize(const ScratchDisk& disk, uint32_t vcpus);

// What Allocate is asked for one disk of a domain with `vcpus` vCPUs: size, or size-per-vcpu
// with vcpus; format, filesystem, label, partition, encryption, target and lifetime as the
// metadata says.
// The hook, the watcher and enable all make their request with it.
AllocateSpec allocateSpecOf(const ScratchDisk& disk, uint32_t vcpus);

// The serial written in the <disk> element of attach='boot' disks: "scratch-<target>".
std::string diskSerial(std::string_view target);

std::string_view toString(Attach attach);
Result<Attach> parseAttach(std::string_view name);

}  // namespace virtscratch::vocabulary
