// Who may change the pool: root, and whoever polkit authorizes for the action (one action per
// kind of change, org.virtscratch.scratch1.*; polkit/ holds the actions and the rules that grant
// group libvirt). Reading needs no authorization. Every step is an asynchronous bus call (the
// sender's credentials, then polkit for non-root callers), so the loop never waits. Loop thread
// only; destroying the Authorizer drops the answers still to come.
#pragma once

#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IObject.h>

#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "base/status.h"
#include "daemon/dbus/bus_errors.h"
#include "daemon/dbus/caller.h"
#include "daemon/dbus/polkit_authority.h"
#include "daemon/service.h"

namespace virtscratch::daemon::bus {

enum class Action { kAllocate, kRelease, kExport, kCancel };

// "org.virtscratch.scratch1.allocate" and so on, as in the .policy file.
std::string_view actionId(Action action);

class Authorizer {
 public:
  explicit Authorizer(sdbus::IConnection& connection);

  // Decides on the sender of the method call `object` is handling. `done` runs once, on the
  // loop thread, with the Caller (uid and groups as the bus reports them) when it may, or
  // kAccessDenied naming the action; later, outside the handler, unless the question cannot
  // even be asked (then at once, with the error).
  void authorize(const sdbus::IObject& object, Action action,
                 std::function<void(Result<Caller>)> done);

 private:
  CredentialsQuery credentials_;
  PolkitAuthority polkit_;
};

// The shape of every method that changes something: authorizes the sender for `action`, then
// runs `body(const Caller&)` (returning a Status) through busCallAsync, which sends its error as
// the reply; on success `body` answers `reply` itself, now or later. `body` must not hold the
// handling object: it may be gone when the answer comes.
template <typename Reply, typename F>
void authorizedCall(Authorizer& authorizer, const sdbus::IObject& object, Action action,
                    std::string_view member, std::shared_ptr<Reply> reply, F body) {
  authorizer.authorize(object, action,
                       [member, reply, body = std::move(body)](Result<Caller> caller) mutable {
                         busCallAsync(member, *reply, [&]() -> Status {
                           if (!caller.ok()) return caller.status();
                           return body(*caller);
                         });
                       });
}

}  // namespace virtscratch::daemon::bus
