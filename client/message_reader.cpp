#include "client/message_reader.h"

#include <cstring>
#include <string_view>

namespace virtscratch::client {
namespace {

Status malformed(std::string_view what, int r) {
  return failed("virt-scratchd sent a message that cannot be read (" + std::string(what) +
                "): " + std::strerror(-r));
}

// Enters a container; false when the enclosing array has no more entries.
Result<bool> enter(sd_bus_message* message, char type, const char* contents,
                   std::string_view what) {
  int r = sd_bus_message_enter_container(message, type, contents);
  if (r < 0) return malformed(what, r);
  return r > 0;
}

Status leave(sd_bus_message* message, std::string_view what) {
  int r = sd_bus_message_exit_container(message);
  if (r < 0) return malformed(what, r);
  return {};
}

template <typename T>
Result<PropertyValue> readBasic(sd_bus_message* message, char type, const char* contents) {
  T value{};
  int r = sd_bus_message_read_basic(message, type, &value);
  if (r < 0) return malformed(contents, r);
  if constexpr (std::is_same_v<T, int>) {
    return PropertyValue(value != 0);
  } else if constexpr (std::is_same_v<T, const char*>) {
    return PropertyValue(std::string(value != nullptr ? value : ""));
  } else {
    return PropertyValue(value);
  }
}

}  // namespace

Result<std::string> readString(sd_bus_message* message, char type) {
  const char* value = nullptr;
  int r = sd_bus_message_read_basic(message, type, &value);
  if (r < 0) return malformed(type == 'o' ? "an object path" : "a string", r);
  return std::string(value != nullptr ? value : "");
}

Result<PropertyValue> readVariant(sd_bus_message* message) {
  char type = 0;
  const char* contents = nullptr;
  int r = sd_bus_message_peek_type(message, &type, &contents);
  if (r <= 0 || type != SD_BUS_TYPE_VARIANT || contents == nullptr) {
    return malformed("a variant", r < 0 ? r : -EBADMSG);
  }
  std::string inner(contents);
  if (inner.size() != 1 || std::strchr("sotubd", inner[0]) == nullptr) {
    r = sd_bus_message_skip(message, "v");
    if (r < 0) return malformed("a variant", r);
    return PropertyValue();
  }
  VS_ASSIGN_OR_RETURN(bool entered,
                      enter(message, SD_BUS_TYPE_VARIANT, inner.c_str(), "a variant"));
  if (!entered) return malformed("a variant", -EBADMSG);
  Result<PropertyValue> value = PropertyValue();
  switch (inner[0]) {
    case 's':
    case 'o':
      value = readBasic<const char*>(message, inner[0], "a string");
      break;
    case 't':
      value = readBasic<uint64_t>(message, 't', "a uint64");
      break;
    case 'u':
      value = readBasic<uint32_t>(message, 'u', "a uint32");
      break;
    case 'b':
      value = readBasic<int>(message, 'b', "a boolean");
      break;
    case 'd':
      value = readBasic<double>(message, 'd', "a double");
      break;
    default:
      break;
  }
  if (!value.ok()) return value;
  VS_RETURN_IF_ERROR(leave(message, "a variant"));
  return value;
}

Result<PropertyMap> readPropertyMap(sd_bus_message* message) {
  PropertyMap map;
  VS_ASSIGN_OR_RETURN(bool entered, enter(message, SD_BUS_TYPE_ARRAY, "{sv}", "a{sv}"));
  if (!entered) return malformed("a{sv}", -EBADMSG);
  while (true) {
    VS_ASSIGN_OR_RETURN(bool more, enter(message, SD_BUS_TYPE_DICT_ENTRY, "sv", "{sv}"));
    if (!more) break;
    VS_ASSIGN_OR_RETURN(std::string name, readString(message, 's'));
    VS_ASSIGN_OR_RETURN(PropertyValue value, readVariant(message));
    VS_RETURN_IF_ERROR(leave(message, "{sv}"));
    map[std::move(name)] = std::move(value);
  }
  VS_RETURN_IF_ERROR(leave(message, "a{sv}"));
  return map;
}

Result<ObjectTree> readObjectTree(sd_bus_message* message) {
  ObjectTree tree;
  VS_ASSIGN_OR_RETURN(bool entered, enter(message, SD_BUS_TYPE_ARRAY, "{oa{sa{sv}}}", "objects"));
  if (!entered) return malformed("objects", -EBADMSG);
  while (true) {
    VS_ASSIGN_OR_RETURN(bool more, enter(message, SD_BUS_TYPE_DICT_ENTRY, "oa{sa{sv}}", "object"));
    if (!more) break;
    VS_ASSIGN_OR_RETURN(std::string path, readString(message, 'o'));
    auto& interfaces = tree[path];
    VS_ASSIGN_OR_RETURN(bool hasInterfaces,
                        enter(message, SD_BUS_TYPE_ARRAY, "{sa{sv}}", "interfaces"));
    if (!hasInterfaces) return malformed("interfaces", -EBADMSG);
    while (true) {
      VS_ASSIGN_OR_RETURN(bool next, enter(message, SD_BUS_TYPE_DICT_ENTRY, "sa{sv}", "interface"));
      if (!next) break;
      VS_ASSIGN_OR_RETURN(std::string interface, readString(message, 's'));
      VS_ASSIGN_OR_RETURN(interfaces[interface], readPropertyMap(message));
      VS_RETURN_IF_ERROR(leave(message, "interface"));
    }
    VS_RETURN_IF_ERROR(leave(message, "interfaces"));
    VS_RETURN_IF_ERROR(leave(message, "object"));
  }
  VS_RETURN_IF_ERROR(leave(message, "objects"));
  return tree;
}

}  // namespace virtscratch::client
