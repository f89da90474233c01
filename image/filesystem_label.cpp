// validateLabel and validateUuid (declared in image/filesystem.h): every rule here was checked
// against what the Debian 12 tools accept, so that a bad value fails up front with a message that
// names it, not halfway through making an image.
#include <string>

#include "image/content_tree.h"
#include "image/filesystem.h"

namespace virtscratch::image {
namespace {

size_t labelLimit(Filesystem fs) {
  switch (fs) {
    case Filesystem::kExt2:
    case Filesystem::kExt3:
    case Filesystem::kExt4:
      return 16;
    case Filesystem::kXfs:
      return 12;
    case Filesystem::kVfat:
      return 11;
    case Filesystem::kSwap:
      // The field has 16 bytes but blkid and the kernel read 15 and a terminating zero.
      return 15;
    case Filesystem::kBtrfs:
      return 255;
    case Filesystem::kNone:
      break;
  }
  return 0;
}

// mkfs.fat runs in the C locale (runProcess sets LC_ALL=C), where it takes printable ASCII only,
// refuses these characters and a leading space, and drops trailing spaces.
Status validateVfatLabel(std::string_view label) {
  constexpr std::string_view kForbidden = "*?.,;:/\\|+=<>[]\"";
  for (char c : label) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      return invalidArgument("vfat label " + quoted(label) +
                             " has a character outside ASCII, which mkfs.fat cannot store; use "
                             "A-Z, 0-9 and simple punctuation");
    }
    if (kForbidden.find(c) != std::string_view::npos) {
      return invalidArgument("vfat label " + quoted(label) + " has the character '" +
                             std::string(1, c) + "'; vfat labels cannot hold any of " +
                             std::string(kForbidden));
    }
  }
  if (label.front() == ' ' || label.back() == ' ') {
    return invalidArgument("vfat label " + quoted(label) +
                           " starts or ends with a space, which vfat cannot keep; remove it");
  }
  if (label == "NO NAME") {
    return invalidArgument(
        "vfat label 'NO NAME' is how vfat marks a volume without a label; leave the label empty "
        "or choose another");
  }
  return {};
}

bool isHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// `pattern` has 'x' for a hex digit and '-' for a dash.
bool matchesHexPattern(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    if (pattern[i] == '-' ? text[i] != '-' : !isHex(text[i])) return false;
  }
  return true;
}

}  // namespace

Status validateLabel(Filesystem fs, std::string_view label) {
  if (label.empty()) return {};
  if (fs == Filesystem::kNone) {
    return invalidArgument("label " + quoted(label) +
                           " needs a filesystem, but the filesystem is 'none'; choose one or drop "
                           "the label");
  }
  size_t i = 0;
  while (i < label.size()) {
    size_t n = utf8SequenceLength(label.substr(i));
    if (n == 0) {
      return invalidArgument("label " + quoted(label) + " is not valid UTF-8");
    }
    auto lead = static_cast<unsigned char>(label[i]);
    // C0 controls, DEL, and the C1 controls U+0080..U+009F (encoded 0xc2 0x80..0x9f).
    bool control = lead < 0x20 || lead == 0x7f ||
                   (n == 2 && lead == 0xc2 && static_cast<unsigned char>(label[i + 1]) < 0xa0);
    if (control) {
      return invalidArgument("label " + quoted(label) +
                             " holds a control character; use printable characters only");
    }
    i += n;
  }
  size_t limit = labelLimit(fs);
  if (label.size() > limit) {
    return invalidArgument("label " + quoted(label) + " is " + std::to_string(label.size()) +
                           " bytes, but " + std::string(toString(fs)) + " labels hold at most " +
                           std::to_string(limit) + " bytes; choose a shorter label");
  }
  if (fs == Filesystem::kVfat) return validateVfatLabel(label);
  return {};
}

Status validateUuid(Filesystem fs, std::string_view uuid) {
  if (uuid.empty()) return {};
  if (fs == Filesystem::kNone) {
    return invalidArgument("uuid " + quoted(uuid) +
                           " needs a filesystem, but the filesystem is 'none'; choose one or drop "
                           "the uuid");
  }
  if (fs == Filesystem::kVfat) {
    if (!matchesHexPattern(uuid, "xxxx-xxxx")) {
      return invalidArgument("uuid " + quoted(uuid) +
                             " is not a vfat volume id; vfat takes 8 hex digits written "
                             "XXXX-XXXX, for example 1A2B-3C4D");
    }
    return {};
  }
  if (!matchesHexPattern(uuid, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")) {
    return invalidArgument("uuid " + quoted(uuid) + " is not an RFC 4122 UUID; " +
                           std::string(toString(fs)) +
                           " takes one written like 123e4567-e89b-12d3-a456-426614174000");
  }
  // mke2fs reads the nil UUID as "clear the UUID", which would leave the filesystem without one.
  if (uuid == "00000000-0000-0000-0000-000000000000") {
    return invalidArgument("uuid " + quoted(uuid) +
                           " is the nil UUID, which no filesystem can use; leave the uuid empty "
                           "for a random one");
  }
  return {};
}

}  // namespace virtscratch::image
