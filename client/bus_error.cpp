#include "client/bus_error.h"

#include <string>

#include "vocabulary/bus_names.h"

namespace virtscratch::client {
namespace {

constexpr std::string_view kFreedesktop = "org.freedesktop.DBus.Error.";

}  // namespace

Status statusFromBusError(std::string_view name, std::string_view message) {
  std::string text(message);
  if (name.starts_with(vocabulary::kErrorPrefix)) {
    std::string_view kind = name.substr(vocabulary::kErrorPrefix.size());
    for (ErrorCode code : kErrorCodes) {
      if (errorCodeName(code) == kind) return Status(code, text);
    }
    // A name a newer daemon added: still an error, and the name says which.
    return failed(std::string(name) + ": " + text);
  }
  if (!name.starts_with(kFreedesktop)) return failed(std::string(name) + ": " + text);
  std::string_view kind = name.substr(kFreedesktop.size());
  if (kind == "ServiceUnknown" || kind == "NameHasNoOwner") {
    return failed("virt-scratchd is not running (" + text +
                  "); start it with: systemctl start virt-scratchd");
  }
  if (kind == "NoReply" && text.find("disconnected") != std::string::npos) {
    return failed(
        "virt-scratchd stopped before it answered (killed or restarted); check whether the "
        "request took effect (virt-scratch list), and try again");
  }
  if (kind == "NoReply" || kind == "Timeout" || kind == "TimedOut") {
    return failed("virt-scratchd did not answer in time (" + text + ")");
  }
  if (kind == "AccessDenied") {
    return Status(ErrorCode::kAccessDenied, "the bus policy denies this call: " + text);
  }
  if (kind == "UnknownObject") return Status(ErrorCode::kNotFound, "no such object: " + text);
  if (kind == "Disconnected") return failed("the connection to the system bus was lost: " + text);
  return failed(std::string(name) + ": " + text);
}

}  // namespace virtscratch::client
