#include "daemon/dbus/caller.h"

#include <sdbus-c++/Error.h>

#include <utility>
#include <vector>

#include "daemon/dbus/bus_errors.h"

namespace virtscratch::daemon::bus {
namespace {

Status unidentified(const std::string& sender, const std::string& why) {
  return {ErrorCode::kAccessDenied, "cannot identify the caller " + sender + ": " + why};
}

}  // namespace

Result<Caller> callerFromCredentials(const std::string& sender,
                                     const std::map<std::string, sdbus::Variant>& credentials) {
  auto uid = credentials.find("UnixUserID");
  if (uid == credentials.end() || !uid->second.containsValueOfType<uint32_t>()) {
    return unidentified(sender, "the bus reports no UnixUserID for it");
  }
  Caller caller;
  caller.uid = uid->second.get<uint32_t>();
  caller.sender = sender;
  auto groups = credentials.find("UnixGroupIDs");
  if (groups != credentials.end() && groups->second.containsValueOfType<std::vector<uint32_t>>()) {
    for (uint32_t gid : groups->second.get<std::vector<uint32_t>>()) caller.groups.push_back(gid);
  }
  return caller;
}

CredentialsQuery::CredentialsQuery(sdbus::IConnection& connection)
    : busDriver_(sdbus::createProxy(connection, "org.freedesktop.DBus", "/org/freedesktop/DBus")) {}

CredentialsQuery::~CredentialsQuery() = default;

void CredentialsQuery::query(const std::string& sender, std::function<void(Result<Caller>)> done) {
  auto finish = std::make_shared<std::function<void(Result<Caller>)>>(std::move(done));
  auto reply = [sender, finish](const sdbus::Error* error,
                                const std::map<std::string, sdbus::Variant>& credentials) {
    // Called from sd-bus's dispatch: nothing may escape.
    try {
      if (error != nullptr) {
        (*finish)(unidentified(sender, error->getName() + ": " + error->getMessage()));
      } else {
        (*finish)(callerFromCredentials(sender, credentials));
      }
    } catch (...) {
      (void)unexpectedError("GetConnectionCredentials reply", std::current_exception());
    }
  };
  try {
    busDriver_->callMethodAsync("GetConnectionCredentials")
        .onInterface("org.freedesktop.DBus")
        .withArguments(sender)
        .uponReplyInvoke(std::move(reply));
  } catch (const sdbus::Error& e) {
    (*finish)(unidentified(sender, e.getName() + ": " + e.getMessage()));
  }
}

}  // namespace virtscratch::daemon::bus
