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

void MemorySecretStore::put(DiskKey key, std::function<void(Status)> done) {
  std::string& kept = keys_[key.secretUuid];
  wipeSecret(kept);
  kept = std::move(key.passphrase);
  loop_.post([done = std::move(done)] { done({}); });
}

Result<std::string> MemorySecretStore::reveal(const std::string& secretUuid) const {
  auto it = keys_.find(secretUuid);
  if (it == keys_.end()) {
    return Status(ErrorCode::kNotFound,
                  "the daemon holds no key for this image: keys live only in its memory without "
                  "libvirt, and it restarted since the image was made");
  }
  return it->second;
}

void MemorySecretStore::drop(const std::string& secretUuid) {
  auto it = keys_.find(secretUuid);
  if (it == keys_.end()) return;
  wipeSecret(it->second);
  keys_.erase(it);
}

}  // namespace virtscratch::daemon
