#include "vocabulary/domain_uuid.h"

#include <cctype>

namespace virtscratch::vocabulary {

bool isUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

bool isNormalisedUuid(std::string_view text) { return isUuid(text) && normaliseUuid(text) == text; }

std::string normaliseUuid(std::string_view uuid) {
  std::string out(uuid);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace virtscratch::vocabulary
