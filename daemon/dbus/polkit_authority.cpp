#include "daemon/dbus/polkit_authority.h"

#include <sdbus-c++/Error.h>
#include <sdbus-c++/Types.h>

#include <utility>

#include "daemon/dbus/bus_errors.h"

namespace virtscratch::daemon::bus {
namespace {

constexpr char kAuthorityPath[] = "/org/freedesktop/PolicyKit1/Authority";
constexpr char kAuthorityInterface[] = "org.freedesktop.PolicyKit1.Authority";

using Subject = sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>;
using AuthorizationResult = sdbus::Struct<bool, bool, std::map<std::string, std::string>>;

std::string who(uid_t uid) { return "uid " + std::to_string(uid); }

}  // namespace

Status polkitDecision(std::string_view action, uid_t uid, bool authorized, bool challenge) {
  if (authorized) return {};
  std::string grant =
      "call as root, or have an administrator grant it in a polkit rules file (the shipped "
      "60-org.virtscratch.scratch1.rules grants group libvirt)";
  if (challenge) {
    return {ErrorCode::kAccessDenied, who(uid) + " may not use " + std::string(action) +
                                          " without administrator authentication, which "
                                          "virt-scratchd does not ask for: " +
                                          grant};
  }
  return {ErrorCode::kAccessDenied,
          who(uid) + " is not authorized by polkit for " + std::string(action) + ": " + grant};
}

Status polkitCallFailed(std::string_view action, uid_t uid, std::string_view name,
                        std::string_view message) {
  if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
      name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
    return {ErrorCode::kAccessDenied,
            "polkit is not running (no owner of org.freedesktop.PolicyKit1 on the system bus), "
            "so it cannot authorize " +
                std::string(action) + " for " + who(uid) +
                ": start polkitd (systemctl start polkit) or call as root"};
  }
  return {ErrorCode::kAccessDenied, "polkit could not decide on " + std::string(action) + " for " +
                                        who(uid) + ": " + std::string(name) + ": " +
                                        std::string(message)};
}

PolkitAuthority::PolkitAuthority(sdbus::IConnection& connection)
    : proxy_(sdbus::createProxy(connection, kPolkitBusName, kAuthorityPath)) {}

PolkitAuthority::~PolkitAuthority() = default;

void PolkitAuthority::check(const std::string& sender, uid_t uid, const std::string& action,
                            std::function<void(Status)> done) {
  Subject subject("system-bus-name", {{"name", sdbus::Variant(sender)}});
  std::map<std::string, std::string> details;
  uint32_t flags = 0;  // no interaction: nobody could answer a password prompt for the daemon
  auto finish = std::make_shared<std::function<void(Status)>>(std::move(done));
  auto reply = [action, uid, finish](const sdbus::Error* error, const AuthorizationResult& result) {
    // Called from sd-bus's dispatch: nothing may escape.
    try {
      if (error != nullptr) {
        (*finish)(polkitCallFailed(action, uid, error->getName(), error->getMessage()));
      } else {
        (*finish)(polkitDecision(action, uid, result.get<0>(), result.get<1>()));
      }
    } catch (...) {
      (void)unexpectedError("CheckAuthorization reply", std::current_exception());
    }
  };
  try {
    proxy_->callMethodAsync("CheckAuthorization")
        .onInterface(kAuthorityInterface)
        .withArguments(subject, action, details, flags, std::string())
        .uponReplyInvoke(std::move(reply));
  } catch (const sdbus::Error& e) {
    (*finish)(polkitCallFailed(action, uid, e.getName(), e.getMessage()));
  }
}

}  // namespace virtscratch::daemon::bus
