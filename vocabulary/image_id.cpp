#include "vocabulary/image_id.h"

namespace virtscratch::vocabulary {

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

}  // namespace virtscratch::vocabulary
