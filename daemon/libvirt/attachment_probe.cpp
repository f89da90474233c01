#include "daemon/libvirt/attachment_probe.h"

#include <libvirt/virterror.h>

#include <cstdlib>
#include <string>

#include "vocabulary/disk_sources.h"

namespace virtscratch::daemon::libvirt {
namespace {

// On the worker: what the domain uses of `paths`.
Result<DomainUse> readUse(virConnectPtr conn, const std::string& uuid,
                          const std::vector<std::string>& paths) {
  DomainUse use;
  DomainPtr dom(virDomainLookupByUUIDString(conn, uuid.c_str()));
  if (!dom) {
    if (lastErrorIs(VIR_ERR_NO_DOMAIN)) return use;  // gone: nothing runs
    return libvirtError("cannot look up domain " + uuid);
  }
  if (const char* name = virDomainGetName(dom.get())) use.name = name;
  int active = virDomainIsActive(dom.get());
  if (active < 0) return libvirtError("cannot tell whether domain " + uuid + " runs");
  if (active == 0) return use;
  char* xml = virDomainGetXMLDesc(dom.get(), 0);
  if (xml == nullptr) return libvirtError("cannot read the definition of domain " + uuid);
  std::string text(xml);
  std::free(xml);
  VS_ASSIGN_OR_RETURN(use.attachedPaths, diskSourcesAmong(text, paths));
  return use;
}

}  // namespace

Result<std::vector<std::string>> diskSourcesAmong(const std::string& domainXml,
                                                  const std::vector<std::string>& paths) {
  VS_ASSIGN_OR_RETURN(auto sources, vocabulary::diskSources(domainXml));
  std::vector<std::string> found;
  for (const std::string& path : paths) {
    for (const auto& [target, source] : sources) {
      if (source == path) {
        found.push_back(path);
        break;
      }
    }
  }
  return found;
}

void LibvirtAttachmentProbe::inUse(const std::string& domainUuid, std::vector<std::string> paths,
                                   std::function<void(Result<DomainUse>)> done) {
  std::weak_ptr<int> alive = alive_;
  virConnectPtr conn = connection_.get();
  if (conn == nullptr) {
    Status status(ErrorCode::kFailed, "virt-scratchd is not connected to libvirt at " +
                                          connection_.uri() + " right now");
    loop_.post([alive, done = std::move(done), status] {
      if (!alive.expired()) done(status);
    });
    return;
  }
  worker_.post([this, alive, shared = shareConnection(conn), domainUuid, paths = std::move(paths),
                done = std::move(done)] {
    auto use = std::make_shared<Result<DomainUse>>(readUse(shared.get(), domainUuid, paths));
    loop_.post([alive, done, use] {
      if (!alive.expired()) done(*use);
    });
  });
}

}  // namespace virtscratch::daemon::libvirt
