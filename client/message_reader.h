// Reading the daemon's replies and signals with sd-bus: property maps (a{sv}) with the basic
// types the interface uses, the ObjectManager's tree, and single values. A value of an
// unexpected type is kept as nothing (the caller's field stays empty), as a generated proxy's
// getter would have refused it; a malformed message is an error naming what was read. Internal
// to the client library; pure functions of the message, any thread that owns it.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "base/status.h"

namespace virtscratch::client {

using PropertyValue = std::variant<std::monostate, std::string, uint64_t, uint32_t, bool, double>;
using PropertyMap = std::map<std::string, PropertyValue>;
// Object path -> interface -> properties (GetManagedObjects).
using ObjectTree = std::map<std::string, std::map<std::string, PropertyMap>>;

// Reads an a{sv} at the message's read position.
Result<PropertyMap> readPropertyMap(sd_bus_message* message);
// Reads a v holding a basic type at the message's read position into `out` (nothing when it
// holds another type).
Status readVariant(sd_bus_message* message, PropertyValue& out);
// Reads an a{oa{sa{sv}}} at the message's read position.
Result<ObjectTree> readObjectTree(sd_bus_message* message);
// Reads one s or o at the message's read position.
Result<std::string> readString(sd_bus_message* message, char type);
// The sender dbus-daemon stamped on `message` (a unique name, or org.freedesktop.DBus for the
// bus itself); empty when there is none.
std::string senderOf(sd_bus_message* message);

// The value of `name` in `map` when it holds a T, else T{}.
template <typename T>
T propertyOr(const PropertyMap& map, const std::string& name) {
  auto it = map.find(name);
  if (it == map.end()) return T{};
  const T* value = std::get_if<T>(&it->second);
  return value != nullptr ? *value : T{};
}

}  // namespace virtscratch::client
