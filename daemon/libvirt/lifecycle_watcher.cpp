#include "daemon/libvirt/lifecycle_watcher.h"

#include <libvirt/virterror.h>

#include <cstdlib>
#include <set>
#include <vector>

#include "daemon/log.h"
#include "vocabulary/disk_secret.h"
#include "vocabulary/disk_xml.h"
#include "vocabulary/domain_uuid.h"
#include "vocabulary/image_id.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::daemon::libvirt {
namespace {

const std::vector<vocabulary::Lifetime> kAllLifetimes = {
    vocabulary::Lifetime::kBoot, vocabulary::Lifetime::kDomain, vocabulary::Lifetime::kManual};

std::string uuidOf(virDomainPtr dom) {
  char buffer[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(dom, buffer) < 0) return {};
  return vocabulary::normaliseUuid(buffer);
}

Result<std::string> liveXml(virDomainPtr dom, const std::string& uuid) {
  char* xml = virDomainGetXMLDesc(dom, 0);
  if (xml == nullptr) return libvirtError("cannot read the definition of domain " + uuid);
  std::string text(xml);
  std::free(xml);
  return text;
}

// libvirt formats every definition itself, one element per line and text unescaped unless it
// needs it, so the serial the disk was given appears exactly like this.
bool hasScratchDisk(const std::string& xml, std::string_view target) {
  return xml.find("<serial>" + vocabulary::diskSerial(target) + "</serial>") != std::string::npos;
}

}  // namespace

LifecycleWatcher::LifecycleWatcher(Service& service, LibvirtConnection& connection,
                                   LoopInvoker& loop)
    : service_(service), connection_(connection), loop_(loop) {
  connection_.addObserver(this);
}

LifecycleWatcher::~LifecycleWatcher() {
  connection_.removeObserver(this);
  if (connection_.connected()) disconnected(connection_.get());
}

void LifecycleWatcher::connected(virConnectPtr conn) {
  // Subscribed before reconciling, so that nothing happens unseen in between.
  callbackId_ =
      virConnectDomainEventRegisterAny(conn, nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                       VIR_DOMAIN_EVENT_CALLBACK(onLifecycle), this, nullptr);
  if (callbackId_ < 0) {
    logLine(
        LogLevel::kError,
        libvirtError("cannot follow domain lifecycle events on " + connection_.uri()).message() +
            "; images are released only by the hook and at the next reconnect");
  }
  reconcile(conn);
}

void LifecycleWatcher::disconnected(virConnectPtr conn) {
  if (callbackId_ >= 0) virConnectDomainEventDeregisterAny(conn, callbackId_);
  callbackId_ = -1;
}

int LifecycleWatcher::onLifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
                                  void* opaque) {
  auto* self = static_cast<LifecycleWatcher*>(opaque);
  if (event != VIR_DOMAIN_EVENT_STARTED && event != VIR_DOMAIN_EVENT_STOPPED &&
      event != VIR_DOMAIN_EVENT_UNDEFINED && event != VIR_DOMAIN_EVENT_DEFINED) {
    return 0;
  }
  std::string uuid = uuidOf(dom);
  if (uuid.empty()) return 0;
  uint64_t mark = self->service_.claimMark();
  self->inspect(conn, {uuid}, false, [self, event, detail, mark](const Inspection& inspection) {
    const DomainState& state = inspection.domains.front();
    if (event == VIR_DOMAIN_EVENT_STARTED) {
      self->started(state, detail == VIR_DOMAIN_EVENT_STARTED_MIGRATED);
    }
    if (event == VIR_DOMAIN_EVENT_STOPPED) {
      self->stopped(state, mark, detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED);
    }
    if (event == VIR_DOMAIN_EVENT_UNDEFINED) self->undefined(state, mark);
    if (event == VIR_DOMAIN_EVENT_DEFINED) self->defined(state, mark);
  });
  return 0;
}

void LifecycleWatcher::inspect(virConnectPtr conn, std::vector<std::string> uuids, bool listRunning,
                               std::function<void(const Inspection&)> apply) {
  std::weak_ptr<int> alive = alive_;
  worker_.post([this, conn = shareConnection(conn), uuids = std::move(uuids), listRunning, alive,
                apply = std::move(apply)] {
    auto inspection = std::make_shared<Inspection>();
    for (const std::string& uuid : uuids)
      inspection->domains.push_back(readState(conn.get(), uuid));
    if (listRunning) {
      virDomainPtr* domains = nullptr;
      int count = virConnectListAllDomains(conn.get(), &domains, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
      if (count < 0) {
        logLine(LogLevel::kWarning, libvirtError("cannot list the running domains").message());
      }
      for (int i = 0; i < count; ++i) {
        DomainPtr dom(domains[i]);
        DomainState state;
        state.uuid = uuidOf(dom.get());
        auto xml = liveXml(dom.get(), state.uuid);
        if (state.uuid.empty() || !xml.ok()) continue;  // stopped meanwhile
        state.presence = DomainState::Presence::kRunning;
        state.liveXml = std::move(*xml);
        inspection->running.push_back(std::move(state));
      }
      std::free(domains);
    }
    loop_.post([alive, apply, inspection] {
      if (!alive.expired()) apply(*inspection);
    });
  });
}

LifecycleWatcher::DomainState LifecycleWatcher::readState(virConnectPtr conn,
                                                          const std::string& uuid) {
  DomainState state;
  state.uuid = uuid;
  DomainPtr dom(virDomainLookupByUUIDString(conn, uuid.c_str()));
  if (!dom) {
    if (lastErrorIs(VIR_ERR_NO_DOMAIN)) {
      state.presence = DomainState::Presence::kGone;
    } else {
      state.error = libvirtError("cannot look up domain " + uuid).message();
    }
    return state;
  }
  int active = virDomainIsActive(dom.get());
  if (active < 0) {
    state.error = libvirtError("cannot tell whether domain " + uuid + " runs").message();
    return state;
  }
  if (active == 0) {
    state.presence = DomainState::Presence::kStopped;
    return state;
  }
  auto xml = liveXml(dom.get(), uuid);
  if (!xml.ok()) {
    state.error = xml.status().message();
    return state;
  }
  state.presence = DomainState::Presence::kRunning;
  state.liveXml = std::move(*xml);
  return state;
}

void LifecycleWatcher::started(const DomainState& state, bool migratedIn) {
  // Stopped again before it was read: its STOPPED follows.
  if (state.presence != DomainState::Presence::kRunning) return;
  const std::string& uuid = state.uuid;
  service_.settleIncoming(uuid);
  auto scratch = vocabulary::parseDomainXml(state.liveXml);
  if (!scratch.ok()) {
    logLine(LogLevel::kWarning,
            "domain " + uuid + ": its scratch disks are ignored: " + scratch.status().message());
    return;
  }
  for (const vocabulary::ScratchDisk& disk : scratch->disks) {
    std::string id = vocabulary::imageIdOf(uuid, disk.target);
    bool present = hasScratchDisk(state.liveXml, disk.target);
    if (present || disk.attach == vocabulary::Attach::kBoot || migratedIn) {
      if (present && service_.findImage(id) != nullptr) {
        (void)service_.setState(id, ImageState::kAttached);
      }
      continue;
    }
    AllocateRequest request{uuid, vocabulary::allocateSpecOf(disk, scratch->vcpus)};
    std::weak_ptr<int> alive = alive_;
    service_.allocate(Caller{}, std::move(request),
                      [this, alive, uuid, id](Result<ImageRecord> record) {
                        if (alive.expired()) return;
                        if (!record.ok()) {
                          logLine(LogLevel::kError, "cannot make the scratch image " + id +
                                                        " to hot-plug into domain " + uuid + ": " +
                                                        record.status().message());
                          return;
                        }
                        attachImage(uuid, id);
                      });
  }
}

void LifecycleWatcher::attachImage(const std::string& uuid, const std::string& imageId) {
  const ImageRecord* record = service_.findImage(imageId);
  virConnectPtr conn = connection_.get();
  if (record == nullptr || conn == nullptr) return;
  std::string secret = record->spec.encryption == image::Encryption::kLuks
                           ? vocabulary::secretUuidOf(uuid, record->target)
                           : std::string();
  std::string disk = vocabulary::diskXml(record->path, record->spec.format, record->target,
                                         vocabulary::Attach::kHotplug,
                                         {.discard = record->discard, .secretUuid = secret});
  std::string what = record->path + " into domain " + uuid + " as " + record->target;
  std::string target = record->target;
  std::weak_ptr<int> alive = alive_;
  worker_.post([this, conn = shareConnection(conn), uuid, imageId, disk, what, target, alive] {
    DomainPtr dom(virDomainLookupByUUIDString(conn.get(), uuid.c_str()));
    // Stopped while the image was made: STOPPED releases it.
    if (!dom || virDomainIsActive(dom.get()) != 1) return;
    auto xml = liveXml(dom.get(), uuid);
    if (!xml.ok() || !hasScratchDisk(*xml, target)) {
      if (virDomainAttachDeviceFlags(dom.get(), disk.c_str(), VIR_DOMAIN_AFFECT_LIVE) < 0) {
        logLine(LogLevel::kError, libvirtError("cannot hot-plug " + what).message());
        return;
      }
      logLine(LogLevel::kInfo, "hot-plugged " + what);
    }
    loop_.post([this, alive, imageId] {
      if (!alive.expired() && service_.findImage(imageId) != nullptr) {
        (void)service_.setState(imageId, ImageState::kAttached);
      }
    });
  });
}

void LifecycleWatcher::markDetached(const std::string& uuid, uint64_t mark) {
  for (const ImageRecord* record : service_.images()) {
    if (record->domainUuid == uuid && record->state == ImageState::kAttached &&
        record->claim <= mark) {
      (void)service_.setState(record->id, ImageState::kReady);
    }
  }
}

void LifecycleWatcher::stopped(const DomainState& state, uint64_t mark, bool migratedOut) {
  switch (state.presence) {
    case DomainState::Presence::kGone:  // a transient domain is gone as soon as it stops
      return undefined(state, mark);
    case DomainState::Presence::kRunning:  // started again: its images are in use
      return;
    case DomainState::Presence::kUnknown:
      logLine(LogLevel::kWarning, state.error + "; its images are left alone");
      return;
    case DomainState::Presence::kStopped:
      break;
  }
  if (migratedOut) {
    uint32_t released =
        service_.releaseByLifetime(state.uuid, kAllLifetimes, "domain-migrated", mark);
    if (released != 0) {
      logLine(LogLevel::kInfo, "domain " + state.uuid + " left by migration: released " +
                                   std::to_string(released) + " image(s)");
    }
    return;
  }
  releaseUnsettled(state.uuid, mark);
  uint32_t released =
      service_.releaseByLifetime(state.uuid, {vocabulary::Lifetime::kBoot}, "domain-stopped", mark);
  markDetached(state.uuid, mark);
  if (released != 0) {
    logLine(LogLevel::kInfo, "domain " + state.uuid + " stopped: released " +
                                 std::to_string(released) + " image(s) of lifetime boot");
  }
}

void LifecycleWatcher::undefined(const DomainState& state, uint64_t mark) {
  // Undefined while running, it goes on as a transient domain: its STOPPED releases.
  if (state.presence == DomainState::Presence::kRunning) return;
  if (state.presence == DomainState::Presence::kUnknown) {
    logLine(LogLevel::kWarning, state.error + "; its images are left alone");
    return;
  }
  uint32_t released =
      service_.releaseByLifetime(state.uuid, kAllLifetimes, "domain-undefined", mark);
  if (released != 0) {
    logLine(LogLevel::kInfo, "domain " + state.uuid + " is gone: released " +
                                 std::to_string(released) + " image(s)");
  }
}

void LifecycleWatcher::defined(const DomainState& state, uint64_t mark) {
  if (state.presence == DomainState::Presence::kStopped) releaseUnsettled(state.uuid, mark);
}

void LifecycleWatcher::releaseUnsettled(const std::string& uuid, uint64_t mark) {
  uint32_t released = service_.releaseIncoming(uuid, "domain-migrated", mark);
  if (released != 0) {
    logLine(LogLevel::kInfo, "domain " + uuid + " is defined here but did not run: released " +
                                 std::to_string(released) +
                                 " empty image(s) made for its migration (an offline migration " +
                                 "brings no data); its next start makes them afresh");
  }
}

void LifecycleWatcher::reconcile(virConnectPtr conn) {
  std::set<std::string> uuids;
  for (const ImageRecord* record : service_.images()) uuids.insert(record->domainUuid);
  uint64_t mark = service_.claimMark();
  inspect(conn, {uuids.begin(), uuids.end()}, true, [this, mark](const Inspection& inspection) {
    for (const DomainState& state : inspection.domains) {
      if (state.presence == DomainState::Presence::kGone) undefined(state, mark);
      if (state.presence == DomainState::Presence::kStopped) stopped(state, mark);
      if (state.presence == DomainState::Presence::kUnknown) {
        logLine(LogLevel::kWarning, state.error + "; its images are left alone");
      }
    }
    for (const DomainState& state : inspection.running) started(state);
  });
}

}  // namespace virtscratch::daemon::libvirt
