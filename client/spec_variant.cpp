#include "client/spec_variant.h"

#include <variant>

namespace virtscratch::client {

VariantMap toVariantMap(const vocabulary::SpecMap& spec) {
  VariantMap map;
  for (const auto& [key, value] : spec) {
    std::visit([&map, &key](const auto& v) { map.emplace(key, sdbus::Variant(v)); }, value);
  }
  return map;
}

Result<vocabulary::SpecMap> toSpecMap(const VariantMap& map) {
  vocabulary::SpecMap spec;
  for (const auto& [key, value] : map) {
    std::string type = value.isEmpty() ? "" : value.peekValueType();
    if (type == "t") {
      spec.emplace(key, value.get<uint64_t>());
    } else if (type == "u") {
      spec.emplace(key, value.get<uint32_t>());
    } else if (type == "s") {
      spec.emplace(key, value.get<std::string>());
    } else if (type == "b") {
      spec.emplace(key, value.get<bool>());
    } else {
      return invalidArgument("spec key '" + key + "' has type '" + type +
                             "'; the spec holds only t, u, s and b values");
    }
  }
  return spec;
}

}  // namespace virtscratch::client
