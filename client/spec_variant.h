// The Allocate spec between its D-Bus-free form (vocabulary::SpecMap) and the a{sv} sdbus-c++
// sends. Internal to the client library (and its tests). Pure functions, any thread.
#pragma once

#include <sdbus-c++/Types.h>

#include <map>
#include <string>

#include "base/status.h"
#include "vocabulary/allocate_spec.h"

namespace virtscratch::client {

using VariantMap = std::map<std::string, sdbus::Variant>;

VariantMap toVariantMap(const vocabulary::SpecMap& spec);
// kInvalidArgument naming the key whose value is not of type t, u, s or b.
Result<vocabulary::SpecMap> toSpecMap(const VariantMap& map);

}  // namespace virtscratch::client
