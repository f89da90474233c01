// The DomainResolver of a daemon connected to libvirt: names are looked up through the
// connection; UUIDs are taken as they are, without asking libvirt. The hook asks the daemon to
// Allocate (by UUID) while libvirtd holds the starting domain locked, so a lookup of that domain
// would wait for the hook, which waits for the daemon, until the hook's timeout. While libvirt
// is not connected names fail with a message saying so. Loop thread.
#pragma once

#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/service.h"

namespace virtscratch::daemon::libvirt {

class LibvirtResolver final : public DomainResolver {
 public:
  explicit LibvirtResolver(const LibvirtConnection& connection) : connection_(connection) {}
  Result<DomainId> resolve(std::string_view uuidOrName) override;

 private:
  const LibvirtConnection& connection_;
};

}  // namespace virtscratch::daemon::libvirt
