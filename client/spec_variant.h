// The Allocate spec from its D-Bus-free form (vocabulary::SpecMap) to the a{sv} sdbus-c++ sends
// (the daemon reads it back in daemon/dbus/request_decoder.cpp). Internal to the client library.
// Pure functions, any thread.
#pragma once

#include <sdbus-c++/Types.h>

#include <map>
#include <string>

#include "vocabulary/allocate_spec.h"

namespace virtscratch::client {

using VariantMap = std::map<std::string, sdbus::Variant>;

VariantMap toVariantMap(const vocabulary::SpecMap& spec);

}  // namespace virtscratch::client
