// The SecretStore of a daemon connected to libvirt: each encrypted image's key becomes a private
// libvirt secret (never given back over libvirt's API) under the UUID derived from the domain and
// the target, with usage 'volume' naming the image. lifetime=boot keys are ephemeral secrets, kept
// only in libvirtd's memory; domain and manual keys are persistent, so they outlive restarts of
// libvirtd and of the daemon. QEMU gets the key from libvirt when it opens the disk.
//
// The define runs while libvirtd runs the prepare hook of the domain that will use it: libvirtd
// serves it on another of its worker threads (the domain's lock is not involved; the secret driver
// has its own), on this store's own thread, so neither the daemon's loop nor the watcher's calls
// wait for it. docs/design.md says why this cannot deadlock. While libvirt is not connected (the
// daemon was just started by the hook's call), a put waits for the connection up to `waitMs`.
// Loop thread; answers there.
#pragma once

#include <glib.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_worker.h"
#include "daemon/loop_invoker.h"
#include "daemon/secret_store.h"

namespace virtscratch::daemon::libvirt {

class LibvirtSecretStore final : public SecretStore, public ConnectionObserver {
 public:
  // `connection`, `loop` and `context` (the loop's) must outlive the store.
  LibvirtSecretStore(LibvirtConnection& connection, LoopInvoker& loop, GMainContext* context,
                     unsigned waitMs = 30000);
  ~LibvirtSecretStore() override;
  LibvirtSecretStore(const LibvirtSecretStore&) = delete;
  LibvirtSecretStore& operator=(const LibvirtSecretStore&) = delete;

  void put(DiskKey key, std::function<void(Status)> done) override;
  void drop(const std::string& secretUuid) override;
  Result<std::string> reveal(const std::string& secretUuid) const override;
  // Kept in the daemon's memory from the put on, as long as the secret is defined.
  Result<std::string> passphraseFor(const std::string& secretUuid) const override;

  void connected(virConnectPtr conn) override;
  void disconnected(virConnectPtr) override {}

 private:
  struct Waiting {
    DiskKey key;
    std::function<void(Status)> done;
    GSource* timer = nullptr;
    uint64_t kept = 0;  // held_'s number for the key
  };
  void send(virConnectPtr conn, DiskKey key, uint64_t kept, std::function<void(Status)> done);
  void sendDrop(virConnectPtr conn, const std::string& secretUuid);
  void expire(uint64_t serial);

  LibvirtConnection& connection_;
  LoopInvoker& loop_;
  GMainContext* context_;
  unsigned waitMs_;
  std::map<uint64_t, Waiting> waiting_;  // puts made while disconnected, by serial
  std::set<std::string> dropsWaiting_;   // drops made while disconnected
  HeldKeys held_;                        // every key put and not dropped, for passphraseFor
  uint64_t nextSerial_ = 0;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  LibvirtWorker worker_;  // last: its thread is joined before anything else goes
};

}  // namespace virtscratch::daemon::libvirt
