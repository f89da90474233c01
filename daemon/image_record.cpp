#include "daemon/image_record.h"

#include <array>
#include <utility>

namespace virtscratch::daemon {
namespace {

constexpr std::array<std::pair<std::string_view, Lifetime>, 3> kLifetimes{{
    {"boot", Lifetime::kBoot},
    {"domain", Lifetime::kDomain},
    {"manual", Lifetime::kManual},
}};

}  // namespace

Result<Lifetime> parseLifetime(std::string_view name) {
  for (const auto& [n, v] : kLifetimes) {
    if (n == name) return v;
  }
  return invalidArgument("unknown lifetime '" + std::string(name) +
                         "' (choose one of: boot, domain, manual)");
}

std::string_view toString(Lifetime lifetime) {
  for (const auto& [n, v] : kLifetimes) {
    if (v == lifetime) return n;
  }
  return "?";
}

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
