#include "daemon/secret_store.h"

#include <glib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "image/luks_header.h"

namespace virtscratch::daemon {

void wipeSecret(std::string& secret) {
  std::fill(secret.begin(), secret.end(), '\0');
  secret.clear();
}

Result<std::string> newPassphrase() {
  std::array<uint8_t, 32> bytes{};
  VS_RETURN_IF_ERROR(image::randomBytes(bytes));
  gchar* text = g_base64_encode(bytes.data(), bytes.size());
  std::string passphrase(text);
  std::fill(text, text + passphrase.size(), '\0');
  g_free(text);
  std::fill(bytes.begin(), bytes.end(), 0);
  return passphrase;
}

HeldKeys::~HeldKeys() {
  for (auto& [uuid, held] : keys_) wipeSecret(held.passphrase);
}

uint64_t HeldKeys::keep(const std::string& secretUuid, std::string passphrase) {
  Held& held = keys_[secretUuid];
  wipeSecret(held.passphrase);
  held.passphrase = std::move(passphrase);
  held.kept = ++keeps_;
  return held.kept;
}

void HeldKeys::forget(const std::string& secretUuid) {
  auto it = keys_.find(secretUuid);
  if (it == keys_.end()) return;
  wipeSecret(it->second.passphrase);
  keys_.erase(it);
}

void HeldKeys::forgetKept(const std::string& secretUuid, uint64_t kept) {
  auto it = keys_.find(secretUuid);
  if (it != keys_.end() && it->second.kept == kept) forget(secretUuid);
}

Result<std::string> HeldKeys::find(const std::string& secretUuid) const {
  auto it = keys_.find(secretUuid);
  if (it == keys_.end()) {
    return Status(ErrorCode::kNotFound,
                  "virt-scratchd holds no key for this image: it keeps keys in its memory, and it "
                  "restarted since the image was made");
  }
  return it->second.passphrase;
}

void MemorySecretStore::put(DiskKey key, std::function<void(Status)> done) {
  keys_.keep(key.secretUuid, std::move(key.passphrase));
  loop_.post([done = std::move(done)] { done({}); });
}

Result<std::string> MemorySecretStore::reveal(const std::string& secretUuid) const {
  return keys_.find(secretUuid);
}

Result<std::string> MemorySecretStore::passphraseFor(const std::string& secretUuid) const {
  return keys_.find(secretUuid);
}

void MemorySecretStore::drop(const std::string& secretUuid) { keys_.forget(secretUuid); }

}  // namespace virtscratch::daemon
