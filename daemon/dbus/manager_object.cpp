#include "daemon/dbus/manager_object.h"

#include <memory>
#include <optional>
#include <utility>

#include "daemon/dbus/authorizer.h"
#include "daemon/dbus/bus_errors.h"
#include "daemon/dbus/object_tree.h"
#include "daemon/dbus/request_decoder.h"
#include "vocabulary/discard.h"

namespace virtscratch::daemon::bus {

using org::virtscratch::Scratch1::Manager_adaptor;

ManagerObject::ManagerObject(sdbus::IConnection& connection, Service& service, ObjectTree& tree,
                             Authorizer& authorizer, std::string version)
    : AdaptorInterfaces(connection, kManagerPath),
      service_(service),
      tree_(tree),
      authorizer_(authorizer),
      version_(std::move(version)) {
  // A caller that leaves (the hook at its timeout) cancels what only it was waiting for. The bus
  // sends NameOwnerChanged with an empty new owner when a connection's unique name goes. sd-bus
  // passes a rule's well-known sender unchecked, so the sender dbus-daemon stamped is checked
  // here: anyone may send a signal, and only the bus policy keeps other senders' signals away
  // from this connection.
  callerGone_ = connection.addMatch(
      "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
      "member='NameOwnerChanged',arg2=''",
      [this](sdbus::Message& message) {
        if (message.getSender() != "org.freedesktop.DBus") return;
        std::string name, oldOwner, newOwner;
        message >> name >> oldOwner >> newOwner;
        if (newOwner.empty() && name.starts_with(':')) service_.callerGone(name);
      });
  registerAdaptor();
}

ManagerObject::~ManagerObject() { unregisterAdaptor(); }

void ManagerObject::poolChanged() {
  emitPropertiesChangedSignal(Manager_adaptor::INTERFACE_NAME, {"PoolUsed", "ImageCount"});
}

void ManagerObject::spaceChanged(daemon::SpaceState state, uint64_t allocated, uint64_t available) {
  emitPropertiesChangedSignal(Manager_adaptor::INTERFACE_NAME, {"SpaceState"});
  if (state != daemon::SpaceState::kOk) {
    emitSpaceLow(std::string(toString(state)), allocated, available);
  }
}

void ManagerObject::Allocate(AllocateReply&& result, std::string domain,
                             std::map<std::string, sdbus::Variant> spec) {
  busCallAsync("Allocate", result, [&]() -> Status {
    VS_ASSIGN_OR_RETURN(AllocateRequest request, decodeAllocateRequest(std::move(domain), spec));
    // Last: from here on `result` belongs to the completion. std::function needs a copyable
    // target and sdbus::Result is move-only, hence the shared_ptrs.
    auto reply = std::make_shared<AllocateReply>(std::move(result));
    auto pending = std::make_shared<AllocateRequest>(std::move(request));
    authorizedCall(authorizer_, getObject(), Action::kAllocate, "Allocate", reply,
                   [this, reply, pending](const Caller& caller) -> Status {
                     service_.allocate(caller, std::move(*pending),
                                       [this, reply](Result<ImageRecord> made) {
                                         allocated(*reply, std::move(made));
                                       });
                     return {};
                   });
    return {};
  });
}

void ManagerObject::allocated(const AllocateReply& reply, Result<ImageRecord> made) {
  if (!made.ok()) return replyError("Allocate", reply, made.status());
  try {
    // The file's path travels with the object's: the hook needs no Get of Path.
    replyValue("Allocate", reply, sdbus::ObjectPath(tree_.imagePath(made->id)), made->path);
  } catch (...) {
    replyError("Allocate", reply, failed("cannot publish image " + made->id + " on the bus"));
  }
}

void ManagerObject::ReleaseDomain(sdbus::Result<uint32_t>&& result, std::string domain,
                                  std::map<std::string, sdbus::Variant> options) {
  auto reply = std::make_shared<sdbus::Result<uint32_t>>(std::move(result));
  authorizedCall(
      authorizer_, getObject(), Action::kRelease, "ReleaseDomain", reply,
      [this, reply, domain, options = std::move(options)](const Caller& caller) -> Status {
        VS_ASSIGN_OR_RETURN(ReleaseOptions release, decodeReleaseDomainOptions(options));
        service_.releaseDomain(caller, domain, release, [reply](Result<uint32_t> n) {
          if (!n.ok()) return replyError("ReleaseDomain", *reply, n.status());
          replyValue("ReleaseDomain", *reply, *n);
        });
        return {};
      });
}

std::vector<sdbus::ObjectPath> ManagerObject::ListImages() {
  return busCall("ListImages", [&] {
    std::vector<sdbus::ObjectPath> paths;
    for (const ImageRecord* record : service_.images()) {
      paths.emplace_back(imagePath(record->id));
    }
    return paths;
  });
}

std::string ManagerObject::Metrics() {
  return busCall("Metrics", [&] { return tree_.metricsText(); });
}

void ManagerObject::Export(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::ObjectPath image,
                           sdbus::UnixFd output, std::map<std::string, sdbus::Variant> options) {
  busCallAsync("Export", result, [&]() -> Status {
    std::optional<std::string> id = imageIdOf(image);
    if (!id) {
      return Status(ErrorCode::kNotFound, "'" + image + "' is not an image object; image paths " +
                                              "start with " + std::string(kImagePathPrefix));
    }
    VS_ASSIGN_OR_RETURN(ExportParams decoded,
                        decodeExportOptions(UniqueFd(output.release()), options));
    // The body is copied into a std::function: the descriptor travels in a shared_ptr.
    auto params = std::make_shared<ExportParams>(std::move(decoded));
    auto reply = std::make_shared<sdbus::Result<sdbus::ObjectPath>>(std::move(result));
    authorizedCall(authorizer_, getObject(), Action::kExport, "Export", reply,
                   [this, reply, id = *id, params](const Caller& caller) -> Status {
                     VS_ASSIGN_OR_RETURN(uint64_t jobId,
                                         service_.startExport(caller, id, std::move(*params)));
                     // The job exists once startExport returns: the answer need not wait.
                     JobInfo job;
                     job.id = jobId;
                     job.operation = "export";
                     for (const JobInfo& known : service_.jobs()) {
                       if (known.id == jobId) job = known;
                     }
                     reply->returnResults(sdbus::ObjectPath(tree_.ensureJob(job)));
                     return {};
                   });
    return {};
  });
}

uint32_t ManagerObject::InterfaceVersion() { return vocabulary::kInterfaceVersion; }
std::string ManagerObject::Version() { return version_; }
std::string ManagerObject::DefaultEncryption() {
  return busCall("DefaultEncryption",
                 [&] { return std::string(image::toString(service_.poolStatus().encryption)); });
}

std::string ManagerObject::DefaultDiscard() {
  return busCall("DefaultDiscard", [&] {
    return std::string(vocabulary::discardName(service_.poolStatus().discard));
  });
}

std::string ManagerObject::PoolPath() {
  return busCall("PoolPath", [&] { return service_.poolStatus().path; });
}
uint64_t ManagerObject::PoolQuota() {
  return busCall("PoolQuota", [&] { return service_.poolStatus().quota; });
}
uint64_t ManagerObject::PoolUsed() {
  return busCall("PoolUsed", [&] { return service_.poolStatus().used; });
}
uint64_t ManagerObject::PoolFree() {
  return busCall("PoolFree", [&] { return service_.poolStatus().free; });
}
uint32_t ManagerObject::ImageCount() {
  return busCall("ImageCount", [&] { return service_.poolStatus().imageCount; });
}
uint64_t ManagerObject::PoolTemplateBytes() {
  return busCall("PoolTemplateBytes", [&] { return service_.poolStatus().templateBytes; });
}

uint64_t ManagerObject::PoolAllocated() {
  return busCall("PoolAllocated", [&] { return service_.poolStatus().allocated; });
}

uint64_t ManagerObject::PoolQuotaAllocated() {
  return busCall("PoolQuotaAllocated", [&] { return service_.poolStatus().quotaAllocated; });
}

uint64_t ManagerObject::PoolHighWater() {
  return busCall("PoolHighWater", [&] { return service_.poolStatus().highWater; });
}

std::string ManagerObject::SpaceState() {
  return busCall("SpaceState",
                 [&] { return std::string(toString(service_.poolStatus().spaceState)); });
}

}  // namespace virtscratch::daemon::bus
