#include "daemon/image_record.h"


namespace virtscratch::daemon {
std::string_view toString(ImageState state) {
  switch (state) {
    case ImageState::kCreating:
      return "creating";
    case ImageState::kReady:
      return "ready";
    case ImageState::kAttached:
      return "attached";
    case ImageState::kReleasing:
      return "releasing";
  }
  return "?";
}

Status validateTarget(std::string_view target) {
  auto bad = [&](std::string_view why) {
    std::string shown;
    for (char c : target) {
      auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte >= 0x7f) {
        shown += '?';
      } else {
        shown += c;
      }
    }
    return invalidArgument("target '" + shown + "' " + std::string(why) +
                           " (a target is 1 to 16 of a-z and 0-9, starting with a letter, "
                           "for example vdb)");
  };
  if (target.empty()) return bad("is empty");
  if (target.size() > 16) return bad("is longer than 16 characters");
  if (target.front() < 'a' || target.front() > 'z') return bad("does not start with a letter");
  for (char c : target) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
      return bad("has a character other than a-z and 0-9");
    }
  }
  return {};
}

}  // namespace virtscratch::daemon
