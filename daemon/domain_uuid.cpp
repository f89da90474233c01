#include "daemon/domain_uuid.h"

#include <array>
#include <cctype>
#include <cstdint>

#include "image/filesystem_uuid.h"

namespace virtscratch::daemon {
namespace {

constexpr std::array<size_t, 4> kDashes = {8, 13, 18, 23};

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
  return image::randomFilesystemUuid(image::toString(fs));
}

}  // namespace virtscratch::daemon
