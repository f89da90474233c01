#include "vocabulary/disk_secret.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <iterator>

#include "vocabulary/xml_escape.h"

namespace virtscratch::vocabulary {

std::string secretUuidOf(std::string_view domainUuid, std::string_view target) {
  std::string name = "virt-scratch secret";
  name += '\0';
  name += domainUuid;
  name += '\0';
  name += target;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  // SHA-256 cannot fail on a buffer in memory short of the process running out of it; a zero
  // digest would still be a valid (if shared) UUID.
  if (EVP_Digest(name.data(), name.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    std::fill(std::begin(digest), std::end(digest), 0);
  }
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x80);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);
  char text[37];
  std::snprintf(
      text, sizeof text, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
      digest[8], digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
  return text;
}

std::string secretXml(std::string_view uuid, std::string_view imagePath, bool ephemeral,
                      std::string_view description) {
  return std::string("<secret ephemeral='") + (ephemeral ? "yes" : "no") +
         "' private='yes'><description>" + escapeXml(description) + "</description><uuid>" +
         escapeXml(uuid) + "</uuid><usage type='volume'><volume>" + escapeXml(imagePath) +
         "</volume></usage></secret>";
}

}  // namespace virtscratch::vocabulary
