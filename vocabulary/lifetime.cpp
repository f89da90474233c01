#include "vocabulary/lifetime.h"

#include <array>
#include <string>
#include <utility>

namespace virtscratch::vocabulary {
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

}  // namespace virtscratch::vocabulary
