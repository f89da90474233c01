#include "daemon/libvirt/libvirt_resolver.h"

#include <libvirt/virterror.h>

#include <string>

#include "vocabulary/domain_uuid.h"

namespace virtscratch::daemon::libvirt {

Result<DomainId> LibvirtResolver::resolve(std::string_view uuidOrName) {
  DomainId id;
  if (vocabulary::isUuid(uuidOrName)) {
    id.uuid = vocabulary::normaliseUuid(uuidOrName);
    return id;
  }
  std::string name(uuidOrName);
  virConnectPtr conn = connection_.get();
  if (conn == nullptr) {
    return Status(ErrorCode::kNotFound,
                  "domain '" + name + "' cannot be looked up: virt-scratchd is not connected to " +
                      "libvirt at " + connection_.uri() +
                      " right now (is libvirtd running?); give the domain's UUID instead");
  }
  DomainPtr dom(virDomainLookupByName(conn, name.c_str()));
  if (!dom) {
    if (lastErrorIs(VIR_ERR_NO_DOMAIN)) {
      return Status(ErrorCode::kNotFound, "no domain named '" + name + "' in libvirt at " +
                                              connection_.uri() + " (see virsh list --all)");
    }
    return libvirtError("cannot look up domain '" + name + "' in libvirt at " + connection_.uri());
  }
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(dom.get(), uuid) < 0) {
    return libvirtError("cannot read the UUID of domain '" + name + "'");
  }
  id.uuid = vocabulary::normaliseUuid(uuid);
  id.name = name;
  return id;
}

}  // namespace virtscratch::daemon::libvirt
