#include "client/message_writer.h"

#include "client/bus_connection.h"

namespace virtscratch::client {
namespace {

int appendValue(sd_bus_message* m, uint64_t value) {
  return sd_bus_message_append(m, "v", "t", value);
}
int appendValue(sd_bus_message* m, uint32_t value) {
  return sd_bus_message_append(m, "v", "u", value);
}
int appendValue(sd_bus_message* m, const std::string& value) {
  return sd_bus_message_append(m, "v", "s", value.c_str());
}
int appendValue(sd_bus_message* m, bool value) {
  return sd_bus_message_append(m, "v", "b", static_cast<int>(value));
}
int appendValue(sd_bus_message* m, const std::vector<std::string>& values) {
  int r = sd_bus_message_open_container(m, SD_BUS_TYPE_VARIANT, "as");
  if (r < 0) return r;
  r = sd_bus_message_open_container(m, SD_BUS_TYPE_ARRAY, "s");
  for (size_t i = 0; r >= 0 && i < values.size(); ++i) {
    r = sd_bus_message_append_basic(m, SD_BUS_TYPE_STRING, values[i].c_str());
  }
  if (r >= 0) r = sd_bus_message_close_container(m);
  if (r >= 0) r = sd_bus_message_close_container(m);
  return r;
}

}  // namespace

OptionMap toOptionMap(const vocabulary::SpecMap& spec) {
  OptionMap map;
  for (const auto& entry : spec) {
    std::visit([&map, &entry](const auto& v) { map.emplace(entry.first, OptionValue(v)); },
               entry.second);
  }
  return map;
}

Status appendOptionMap(sd_bus_message* message, const OptionMap& options) {
  int r = sd_bus_message_open_container(message, SD_BUS_TYPE_ARRAY, "{sv}");
  for (auto it = options.begin(); r >= 0 && it != options.end(); ++it) {
    r = sd_bus_message_open_container(message, SD_BUS_TYPE_DICT_ENTRY, "sv");
    if (r >= 0) r = sd_bus_message_append_basic(message, SD_BUS_TYPE_STRING, it->first.c_str());
    if (r >= 0) {
      r = std::visit([message](const auto& v) { return appendValue(message, v); }, it->second);
    }
    if (r >= 0) r = sd_bus_message_close_container(message);
  }
  if (r >= 0) r = sd_bus_message_close_container(message);
  if (r < 0) return busFailure("writing the call's options", r);
  return {};
}

}  // namespace virtscratch::client
