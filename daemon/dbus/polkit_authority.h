// The polkit client: asks org.freedesktop.PolicyKit1.Authority.CheckAuthorization whether the
// sender of a method call (polkit's "system-bus-name" subject) may perform an action, with an
// asynchronous call, so the loop never waits for polkitd. No user interaction is asked for: an
// action that needs authentication is refused. Loop thread only; destroying the authority drops
// the answers still to come (their callbacks are not called).
#pragma once

#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IProxy.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"

namespace virtscratch::daemon::bus {

inline constexpr char kPolkitBusName[] = "org.freedesktop.PolicyKit1";

// What polkit's answer means for `uid` asking for `action`: OK when authorized, otherwise
// kAccessDenied naming the action and saying how to be granted it.
Status polkitDecision(std::string_view action, uid_t uid, bool authorized, bool challenge);
// The error for a CheckAuthorization call that failed with the bus error `name`: polkitd not
// running (ServiceUnknown, NameHasNoOwner) is said so, with what to do.
Status polkitCallFailed(std::string_view action, uid_t uid, std::string_view name,
                        std::string_view message);

class PolkitAuthority {
 public:
  explicit PolkitAuthority(sdbus::IConnection& connection);
  ~PolkitAuthority();
  PolkitAuthority(const PolkitAuthority&) = delete;
  PolkitAuthority& operator=(const PolkitAuthority&) = delete;

  // Asks whether the bus name `sender` (of a caller with `uid`, for messages) may do `action`;
  // `done` runs once, on the loop thread, with OK or kAccessDenied: later with polkit's answer,
  // or at once when the question cannot even be sent.
  void check(const std::string& sender, uid_t uid, const std::string& action,
             std::function<void(Status)> done);

 private:
  std::unique_ptr<sdbus::IProxy> proxy_;
};

}  // namespace virtscratch::daemon::bus
