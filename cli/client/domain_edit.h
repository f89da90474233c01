// What `virt-scratch enable` and `disable` change in a libvirt domain's persistent definition,
// through the libvirt API on a connection the caller opened:
//   - the <scratch:disks> metadata (virDomainSetMetadata, config), one entry per target;
//   - for attach='boot', a <disk type='file'> whose source is the image the daemon will make at
//     <pool>/<uuid>/<target>.<format> (vocabulary/pool_layout.h), with
//     <serial>scratch-<target></serial> naming it as scratch (virDomainAttachDeviceFlags /
//     DetachDeviceFlags, config). Drivers that cannot add devices to a definition (libvirt's test
//     driver) get the definition redefined instead.
// Nothing here talks to virt-scratchd. Single-threaded.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cli/client/libvirt_api.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::cli {

struct ConnectCloser {
  void operator()(virConnectPtr c) const { libvirt().connectClose(c); }
};
struct DomainFreer {
  void operator()(virDomainPtr d) const { libvirt().domainFree(d); }
};
using ConnectPtr = std::unique_ptr<virConnect, ConnectCloser>;
using DomainPtr = std::unique_ptr<virDomain, DomainFreer>;

// `uri`, or LIBVIRT_DEFAULT_URI, or qemu:///system. libvirt's own error printing is turned off:
// the errors come back in the Status.
Result<ConnectPtr> openLibvirt(const std::optional<std::string>& uri);

struct EditedDomain {
  std::string uuid;  // lower case
  std::string name;
  bool running = false;
  std::vector<std::string> targets;  // the scratch disks added, replaced or removed
};

// Adds `disk` to the definition of `domain` (UUID or name), replacing an entry of the same
// target. `poolPath` is needed for attach='boot' only. Fails, changing nothing, on a transient
// domain and on a target that a disk which is not scratch uses.
Result<EditedDomain> enableScratchDisk(virConnectPtr conn, std::string_view domain,
                                       const vocabulary::ScratchDisk& disk,
                                       std::string_view poolPath);

// Removes the scratch disk of `target` (every one when none is given) from the definition: the
// metadata entry (the whole element when none is left) and the <disk> with its serial.
Result<EditedDomain> disableScratchDisks(virConnectPtr conn, std::string_view domain,
                                         const std::optional<std::string>& target);

}  // namespace virtscratch::cli
