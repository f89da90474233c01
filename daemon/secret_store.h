// Where the passphrases of encrypted images live, for as long as their images do. The Allocator
// puts a fresh key before it answers (QEMU needs it the moment the hook returns); releasing the
// image drops it. With libvirt the store is libvirtd's secret driver
// (daemon/libvirt/libvirt_secret_store.h): private secrets, ephemeral ones for lifetime=boot, so
// that a boot image's key is never written to any disk. Without libvirt it is the daemon's memory
// (MemorySecretStore). Either way the daemon keeps each key in its memory too, until it is dropped,
// to decrypt exports (passphraseFor). Loop thread: every call, and every `done`, which never runs
// inside the call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "base/status.h"
#include "daemon/loop_invoker.h"

namespace virtscratch::daemon {

struct DiskKey {
  std::string secretUuid;   // vocabulary::secretUuidOf(domain UUID, target)
  std::string imagePath;    // the image the key opens
  std::string description;  // for `virsh secret-list`: which domain and target
  bool ephemeral = true;    // lifetime boot: kept in memory only, wherever it is kept
  std::string passphrase;   // UTF-8 text (QEMU wants it so)
};

class SecretStore {
 public:
  virtual ~SecretStore() = default;
  // Keeps `key` under its secretUuid, replacing one kept there before.
  virtual void put(DiskKey key, std::function<void(Status)> done) = 0;
  // Forgets the key under `secretUuid`, if any; failures are logged, there is no one to tell.
  virtual void drop(const std::string& secretUuid) = 0;
  // The key under `secretUuid`, for a root caller who asked for it over the bus; kAccessDenied
  // where the store never gives keys back (libvirt's private secrets).
  virtual Result<std::string> reveal(const std::string& secretUuid) const = 0;
  // The key under `secretUuid` for the daemon's own use, never for a caller: decrypting an export
  // of its image. kNotFound when this daemon does not hold it in its memory (it restarted since
  // the key was made: without libvirt the key is gone, with libvirt only QEMU gets it back).
  virtual Result<std::string> passphraseFor(const std::string& secretUuid) const = 0;
};

// The keys a store holds in the daemon's memory, by secret UUID; wiped when dropped or replaced.
class HeldKeys {
 public:
  HeldKeys() = default;
  HeldKeys(const HeldKeys&) = delete;
  HeldKeys& operator=(const HeldKeys&) = delete;
  ~HeldKeys();
  // Returns the number of this keep, for forgetKept.
  uint64_t keep(const std::string& secretUuid, std::string passphrase);
  void forget(const std::string& secretUuid);
  // Forgets the key under `secretUuid` only if it is still the one keep number `kept` kept.
  void forgetKept(const std::string& secretUuid, uint64_t kept);
  bool has(const std::string& secretUuid) const { return keys_.count(secretUuid) != 0; }
  // kNotFound, saying that the daemon restarted since the key was made, when not held.
  Result<std::string> find(const std::string& secretUuid) const;

 private:
  struct Held {
    std::string passphrase;
    uint64_t kept = 0;
  };
  std::map<std::string, Held> keys_;
  uint64_t keeps_ = 0;
};

// Overwrites a key kept in `secret` with zeros and empties it, so that freed memory does not hold
// it.
void wipeSecret(std::string& secret);

// A fresh passphrase: 32 bytes from the kernel's random number generator, in base64 (text, as
// QEMU wants its secrets). Any thread.
Result<std::string> newPassphrase();

// The store without libvirt: a map in the daemon's memory, emptied when it stops.
class MemorySecretStore final : public SecretStore {
 public:
  explicit MemorySecretStore(LoopInvoker& loop) : loop_(loop) {}
  void put(DiskKey key, std::function<void(Status)> done) override;
  void drop(const std::string& secretUuid) override;
  Result<std::string> reveal(const std::string& secretUuid) const override;
  Result<std::string> passphraseFor(const std::string& secretUuid) const override;
  bool has(const std::string& secretUuid) const { return keys_.has(secretUuid); }

 private:
  LoopInvoker& loop_;
  HeldKeys keys_;
};

}  // namespace virtscratch::daemon
