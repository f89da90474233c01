// The <disk> elements of a libvirt domain definition, read and edited with libxml2 (no network,
// no entity expansion; a document with a DOCTYPE is refused before its declarations are read).
// For enable/disable, which find the scratch disk they wrote (by its target and serial) and, on
// drivers without device hot-plug into the definition, rewrite the definition themselves. Pure
// functions, any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace virtscratch::cli {

struct DiskElement {
  std::string target;  // <target dev>
  std::string serial;  // <serial>, empty when none
  std::string xml;     // the element as text, for virDomainDetachDeviceFlags
};

// The /domain/devices/disk elements of `domainXml`.
Result<std::vector<DiskElement>> listDisks(std::string_view domainXml);

// `domainXml` without the disk whose target is `removeTarget` (none when empty) and with
// `addDiskXml` (a <disk> element; none when empty) appended to <devices>.
Result<std::string> editDisks(std::string_view domainXml, std::string_view removeTarget,
                              std::string_view addDiskXml);

}  // namespace virtscratch::cli
