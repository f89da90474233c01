#include "daemon/libvirt/libvirt_secret_store.h"

#include <libvirt/virterror.h>

#include <algorithm>
#include <utility>

#include "daemon/glib_source.h"
#include "daemon/log.h"
#include "vocabulary/disk_secret.h"

namespace virtscratch::daemon::libvirt {
namespace {

struct SecretFreer {
  void operator()(virSecretPtr s) const { virSecretFree(s); }
};
using SecretPtr = std::unique_ptr<virSecret, SecretFreer>;

// On the worker: defines the secret and sets its value; nothing is left defined on failure.
Status defineSecret(virConnectPtr conn, const DiskKey& key) {
  std::string xml =
      vocabulary::secretXml(key.secretUuid, key.imagePath, key.ephemeral, key.description);
  SecretPtr secret(virSecretDefineXML(conn, xml.c_str(), 0));
  if (!secret) {
    // One kept from before with other flags (a disk that changed lifetime, a crash before the
    // release): the key it holds opens no image any more.
    SecretPtr old(virSecretLookupByUUIDString(conn, key.secretUuid.c_str()));
    if (old && virSecretUndefine(old.get()) == 0) {
      secret.reset(virSecretDefineXML(conn, xml.c_str(), 0));
    }
  }
  if (!secret) return libvirtError("defining libvirt secret " + key.secretUuid);
  const auto* bytes = reinterpret_cast<const unsigned char*>(key.passphrase.data());
  if (virSecretSetValue(secret.get(), bytes, key.passphrase.size(), 0) != 0) {
    Status error = libvirtError("setting the value of libvirt secret " + key.secretUuid);
    virSecretUndefine(secret.get());
    return error;
  }
  return {};
}

}  // namespace

LibvirtSecretStore::LibvirtSecretStore(LibvirtConnection& connection, LoopInvoker& loop,
                                       GMainContext* context, unsigned waitMs)
    : connection_(connection), loop_(loop), context_(context), waitMs_(waitMs) {
  connection_.addObserver(this);
}

LibvirtSecretStore::~LibvirtSecretStore() {
  connection_.removeObserver(this);
  for (auto& [serial, w] : waiting_) {
    g_source_destroy(w.timer);
    g_source_unref(w.timer);
    wipeSecret(w.key.passphrase);
  }
}

void LibvirtSecretStore::put(DiskKey key, std::function<void(Status)> done) {
  uint64_t kept = held_.keep(key.secretUuid, key.passphrase);
  if (virConnectPtr conn = connection_.get()) {
    return send(conn, std::move(key), kept, std::move(done));
  }
  uint64_t serial = nextSerial_++;
  std::weak_ptr<int> alive = alive_;
  GSource* timer = runOnce(context_, waitMs_, [this, alive, serial] {
    if (!alive.expired()) expire(serial);
  });
  waiting_[serial] = Waiting{std::move(key), std::move(done), timer, kept};
}

void LibvirtSecretStore::expire(uint64_t serial) {
  auto it = waiting_.find(serial);
  if (it == waiting_.end()) return;
  Waiting w = std::move(it->second);
  waiting_.erase(it);
  g_source_unref(w.timer);
  wipeSecret(w.key.passphrase);
  held_.forgetKept(w.key.secretUuid, w.kept);
  w.done(Status(ErrorCode::kFailed, "libvirt at " + connection_.uri() + " did not answer within " +
                                        std::to_string(waitMs_ / 1000) +
                                        " s; an encrypted disk's key is kept as a libvirt secret: "
                                        "check that libvirtd runs"));
}

Result<std::string> LibvirtSecretStore::passphraseFor(const std::string& secretUuid) const {
  auto held = held_.find(secretUuid);
  if (held.ok()) return held;
  return Status(ErrorCode::kNotFound,
                "virt-scratchd restarted since it made this image, and its key is now only the "
                "private libvirt secret " +
                    secretUuid + ", which libvirt gives to QEMU and to no one else");
}

Result<std::string> LibvirtSecretStore::reveal(const std::string& secretUuid) const {
  return Status(ErrorCode::kAccessDenied,
                "the key is the private libvirt secret " + secretUuid +
                    ": libvirt gives it to QEMU and to no one else, not even root");
}

void LibvirtSecretStore::drop(const std::string& secretUuid) {
  held_.forget(secretUuid);
  if (virConnectPtr conn = connection_.get()) return sendDrop(conn, secretUuid);
  dropsWaiting_.insert(secretUuid);
}

void LibvirtSecretStore::connected(virConnectPtr conn) {
  for (const std::string& uuid : dropsWaiting_) sendDrop(conn, uuid);
  dropsWaiting_.clear();
  std::map<uint64_t, Waiting> waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [serial, w] : waiting) {
    g_source_destroy(w.timer);
    g_source_unref(w.timer);
    send(conn, std::move(w.key), w.kept, std::move(w.done));
  }
}

void LibvirtSecretStore::send(virConnectPtr conn, DiskKey key, uint64_t kept,
                              std::function<void(Status)> done) {
  std::weak_ptr<int> alive = alive_;
  worker_.post([this, alive, conn = shareConnection(conn), key = std::move(key), kept,
                done = std::move(done)]() mutable {
    Status status = defineSecret(conn.get(), key);
    wipeSecret(key.passphrase);
    loop_.post([this, alive, uuid = key.secretUuid, kept, done = std::move(done), status] {
      if (alive.expired()) return;
      // A key put again under the same UUID since then is not this one.
      if (!status.ok()) held_.forgetKept(uuid, kept);
      done(status);
    });
  });
}

void LibvirtSecretStore::sendDrop(virConnectPtr conn, const std::string& secretUuid) {
  worker_.post([conn = shareConnection(conn), secretUuid] {
    SecretPtr secret(virSecretLookupByUUIDString(conn.get(), secretUuid.c_str()));
    if (!secret) {
      if (!lastErrorIs(VIR_ERR_NO_SECRET)) {
        logLine(
            LogLevel::kWarning,
            libvirtError("looking up libvirt secret " + secretUuid + " to undefine it").message());
      }
      return;
    }
    if (virSecretUndefine(secret.get()) != 0) {
      logLine(LogLevel::kWarning,
              libvirtError("undefining libvirt secret " + secretUuid).message());
    }
  });
}

}  // namespace virtscratch::daemon::libvirt
