#include "client/message_reader.h"

#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
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

// Reads an array of dict entries of `entry` ("sv", "oa{sa{sv}}"): each entry's key (of type
// entry[0]) goes to `value`, which reads the rest of the entry.
Status readDict(sd_bus_message* message, const std::string& entry, std::string_view what,
                const std::function<Status(const std::string& key)>& value) {
  std::string array = "{" + entry + "}";
  VS_ASSIGN_OR_RETURN(bool entered, enter(message, SD_BUS_TYPE_ARRAY, array.c_str(), what));
  if (!entered) return malformed(what, -EBADMSG);
  while (true) {
    VS_ASSIGN_OR_RETURN(bool more, enter(message, SD_BUS_TYPE_DICT_ENTRY, entry.c_str(), what));
    if (!more) break;
    VS_ASSIGN_OR_RETURN(std::string key, readString(message, entry[0]));
    VS_RETURN_IF_ERROR(value(key));
    VS_RETURN_IF_ERROR(leave(message, what));
  }
  return leave(message, what);
}

}  // namespace

Result<std::string> readString(sd_bus_message* message, char type) {
  const char* value = nullptr;
  int r = sd_bus_message_read_basic(message, type, &value);
  if (r < 0) return malformed(type == 'o' ? "an object path" : "a string", r);
  return std::string(value != nullptr ? value : "");
}

std::string senderOf(sd_bus_message* message) {
  const char* sender = sd_bus_message_get_sender(message);
  return sender != nullptr ? sender : "";
}

Status readVariant(sd_bus_message* message, PropertyValue& out) {
  out = std::monostate();
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
    return {};
  }
  VS_ASSIGN_OR_RETURN(bool entered,
                      enter(message, SD_BUS_TYPE_VARIANT, inner.c_str(), "a variant"));
  if (!entered) return malformed("a variant", -EBADMSG);
  // Each value is read into a plain local and only then stored (GCC 12 sees a variant moved
  // out of a Result as maybe uninitialized).
  switch (inner[0]) {
    case 's':
    case 'o': {
      const char* text = nullptr;
      r = sd_bus_message_read_basic(message, inner[0], &text);
      if (r >= 0) out = std::string(text != nullptr ? text : "");
      break;
    }
    case 't': {
      uint64_t number = 0;
      r = sd_bus_message_read_basic(message, 't', &number);
      if (r >= 0) out = number;
      break;
    }
    case 'u': {
      uint32_t number = 0;
      r = sd_bus_message_read_basic(message, 'u', &number);
      if (r >= 0) out = number;
      break;
    }
    case 'b': {
      int flag = 0;
      r = sd_bus_message_read_basic(message, 'b', &flag);
      if (r >= 0) out = flag != 0;
      break;
    }
    case 'd': {
      double number = 0;
      r = sd_bus_message_read_basic(message, 'd', &number);
      if (r >= 0) out = number;
      break;
    }
    default:
      break;
  }
  if (r < 0) return malformed("a variant's value", r);
  return leave(message, "a variant");
}

Result<PropertyMap> readPropertyMap(sd_bus_message* message) {
  PropertyMap map;
  VS_RETURN_IF_ERROR(readDict(message, "sv", "a{sv}", [&](const std::string& name) {
    return readVariant(message, map[name]);
  }));
  return map;
}

Result<ObjectTree> readObjectTree(sd_bus_message* message) {
  ObjectTree tree;
  VS_RETURN_IF_ERROR(readDict(message, "oa{sa{sv}}", "objects", [&](const std::string& path) {
    auto& interfaces = tree[path];
    return readDict(message, "sa{sv}", "interfaces", [&](const std::string& interface) -> Status {
      VS_ASSIGN_OR_RETURN(interfaces[interface], readPropertyMap(message));
      return {};
    });
  }));
  return tree;
}

}  // namespace virtscratch::client
