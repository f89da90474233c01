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

}  // namespace virtscratch::client
