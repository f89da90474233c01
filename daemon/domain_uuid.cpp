#include "daemon/domain_uuid.h"

#include <sys/random.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <random>

namespace virtscratch::daemon {
namespace {

constexpr std::array<size_t, 4> kDashes = {8, 13, 18, 23};

std::array<uint8_t, 16> randomBytes() {
  std::array<uint8_t, 16> bytes{};
  if (getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) {
    // getrandom cannot fail for 16 bytes once the pool is initialised; this is only a fallback.
    std::random_device device;
    for (auto& b : bytes) b = static_cast<uint8_t>(device());
  }
  return bytes;
}

}  // namespace

bool isUuid(std::string_view text) {
  if (text.size() != 36) return false;
  size_t dash = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (dash < kDashes.size() && i == kDashes[dash]) {
      if (text[i] != '-') return false;
      ++dash;
    } else if (!std::isxdigit(static_cast<unsigned char>(text[i]))) {
      return false;
    }
  }
  return true;
}

std::string normaliseUuid(std::string_view uuid) {
  std::string out(uuid);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string imageIdOf(std::string_view domainUuid, std::string_view target) {
  std::string id;
  id.reserve(domainUuid.size() + 1 + target.size());
  for (char c : domainUuid) {
    if (c != '-') id += c;
  }
  id += '_';
  id += target;
  return id;
}

std::string randomFilesystemUuid(image::Filesystem fs) {
  if (fs == image::Filesystem::kNone) return {};
  std::array<uint8_t, 16> b = randomBytes();
  char buf[40];
  if (fs == image::Filesystem::kVfat) {
    std::snprintf(buf, sizeof buf, "%02X%02X-%02X%02X", b[0], b[1], b[2], b[3]);
    return buf;
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return buf;
}

}  // namespace virtscratch::daemon
