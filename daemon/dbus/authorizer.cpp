#include "daemon/dbus/authorizer.h"

#include <sdbus-c++/Message.h>

#include <memory>
#include <string>
#include <utility>

namespace virtscratch::daemon::bus {

std::string_view actionId(Action action) {
  switch (action) {
    case Action::kAllocate:
      return "org.virtscratch.scratch1.allocate";
    case Action::kRelease:
      return "org.virtscratch.scratch1.release";
    case Action::kExport:
      return "org.virtscratch.scratch1.export";
    case Action::kCancel:
      return "org.virtscratch.scratch1.cancel";
  }
  return "org.virtscratch.scratch1.unknown";
}

Authorizer::Authorizer(sdbus::IConnection& connection)
    : credentials_(connection), polkit_(connection) {}

void Authorizer::authorize(const sdbus::IObject& object, Action action,
                           std::function<void(Result<Caller>)> done) {
  const sdbus::Message* message = object.getCurrentlyProcessedMessage();
  if (message == nullptr) {
    return done(Status(ErrorCode::kAccessDenied,
                       "cannot identify the caller: no method call is being handled"));
  }
  credentials_.query(
      message->getSender(), [this, action, done = std::move(done)](Result<Caller> caller) mutable {
        // Root needs no polkit: the libvirt hook (root) must work also while polkitd is down.
        if (!caller.ok() || caller->uid == 0) return done(std::move(caller));
        auto identified = std::make_shared<Caller>(std::move(caller).value());
        polkit_.check(identified->sender, identified->uid, std::string(actionId(action)),
                      [identified, done = std::move(done)](const Status& decision) {
                        if (!decision.ok()) return done(decision);
                        done(std::move(*identified));
                      });
      });
}

}  // namespace virtscratch::daemon::bus
