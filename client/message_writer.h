// Writing the a{sv} arguments the daemon reads (the Allocate spec, the options of Release,
// ReleaseDomain and Export) into an sd-bus message; the daemon reads them back in
// daemon/dbus/request_decoder.cpp. Internal to the client library; pure functions of the message.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "base/status.h"
#include "vocabulary/allocate_spec.h"

namespace virtscratch::client {

// D-Bus types t, u, s, b and as.
using OptionValue = std::variant<uint64_t, uint32_t, std::string, bool, std::vector<std::string>>;
using OptionMap = std::map<std::string, OptionValue>;

OptionMap toOptionMap(const vocabulary::SpecMap& spec);
// Appends `options` as an a{sv}.
Status appendOptionMap(sd_bus_message* message, const OptionMap& options);

}  // namespace virtscratch::client
