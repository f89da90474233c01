// Follows libvirt's domain lifecycle events and keeps the pool in step with the domains:
//   STARTED    allocates the domain's attach='hotplug' scratch disks and attaches them to the
//              running domain (virDomainAttachDeviceFlags, live); marks attach='boot' ones
//              attached. Started by an incoming migration (detail MIGRATED), it hot-plugs
//              nothing: the disks the source had attached come with it (the hook's
//              `migrate begin` made them) and the others stay detached, as they were there.
//              Either way the images made for an incoming migration are settled: they hold
//              the domain's data now
//   STOPPED    releases the domain's lifetime='boot' images (a backstop for the hook's
//              `release end`); all of them when the domain is gone with it (transient domains)
//              or when it left by migration (detail MIGRATED: its disks live on elsewhere)
//   UNDEFINED  releases all the domain's images, unless it still runs (it became transient:
//              its STOPPED releases them)
//   DEFINED    of a domain that is not running releases the images made for an incoming
//              migration that never ran here: an offline migration (`virsh migrate --offline`)
//              runs the hook's `migrate begin` too but brings only the definition, so its first
//              start must make them afresh. STOPPED and the reconcile do the same
// Each release is bounded by the Service's claim mark taken when the event was seen: the state is
// read later, on the worker, and by the time it is applied the domain may have been started again
// and its hook's Allocate served; what that Allocate made or returned is the new run's and stays.
// And, on every connect and reconnect, reconciles every image in the pool against libvirt, which
// runs stop hooks but sends no event for what happened while libvirtd or this daemon was down:
// a domain that is gone loses all its images, a domain that is not running its boot ones and its
// unsettled incoming ones, and a running one gets its missing hot-plugged disks.
//
// Lives on the loop thread (libvirt's events are dispatched there by registerGLibEventLoop), and
// so do its Service calls; its libvirt calls (lookups, definitions, attach) run on its own
// LibvirtWorker thread (see libvirt_worker.h for why) and hand their results back through the
// LoopInvoker, in the order the events came.
#pragma once

#include <libvirt/libvirt.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_worker.h"
#include "daemon/loop_invoker.h"
#include "daemon/service.h"

namespace virtscratch::daemon::libvirt {

class LifecycleWatcher final : public ConnectionObserver {
 public:
  // Observes `connection` from now on (at once when it is connected already). `service` must be
  // started; it, the connection and the loop must outlive the watcher.
  LifecycleWatcher(Service& service, LibvirtConnection& connection, LoopInvoker& loop);
  ~LifecycleWatcher() override;
  LifecycleWatcher(const LifecycleWatcher&) = delete;
  LifecycleWatcher& operator=(const LifecycleWatcher&) = delete;

  void connected(virConnectPtr conn) override;
  void disconnected(virConnectPtr conn) override;

 private:
  // What libvirt said of one domain, read on the worker.
  struct DomainState {
    enum class Presence { kGone, kStopped, kRunning, kUnknown };
    std::string uuid;
    Presence presence = Presence::kUnknown;
    std::string liveXml;  // when running
    std::string error;    // when unknown
  };
  struct Inspection {
    std::vector<DomainState> domains;  // the ones asked for, in order
    std::vector<DomainState> running;  // every running domain, when asked
  };

  static int onLifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail, void* opaque);
  // Reads the domains on the worker, then runs `apply` on the loop.
  void inspect(virConnectPtr conn, std::vector<std::string> uuids, bool listRunning,
               std::function<void(const Inspection&)> apply);
  static DomainState readState(virConnectPtr conn, const std::string& uuid);
  // `migratedIn`: started by an incoming migration.
  void started(const DomainState& state, bool migratedIn = false);
  // `mark`: the Service's claimMark() when the event was seen (or the reconcile began).
  // `migratedOut`: it stopped because it left by migration.
  void stopped(const DomainState& state, uint64_t mark, bool migratedOut = false);
  void undefined(const DomainState& state, uint64_t mark);
  void defined(const DomainState& state, uint64_t mark);
  // The stopped domain's images of an incoming migration that never ran here.
  void releaseUnsettled(const std::string& uuid, uint64_t mark);
  void reconcile(virConnectPtr conn);
  void markDetached(const std::string& uuid, uint64_t mark);
  void attachImage(const std::string& uuid, const std::string& imageId);

  Service& service_;
  LibvirtConnection& connection_;
  LoopInvoker& loop_;
  int callbackId_ = -1;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // for work handed back to the loop
  LibvirtWorker worker_;  // last: its thread is joined before anything else goes
};

}  // namespace virtscratch::daemon::libvirt
