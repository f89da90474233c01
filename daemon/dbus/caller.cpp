#include "daemon/dbus/caller.h"

#include <sdbus-c++/Error.h>
#include <sdbus-c++/Message.h>

#include <string>

namespace virtscratch::daemon::bus {

Result<Caller> callerOf(const sdbus::IObject& object) {
  const sdbus::Message* message = object.getCurrentlyProcessedMessage();
  if (message == nullptr) {
    return Status(ErrorCode::kAccessDenied, "cannot identify the caller: no message in progress");
  }
  try {
    Caller caller;
    caller.uid = message->getCredsUid();
    return caller;
  } catch (const sdbus::Error& e) {
    return Status(ErrorCode::kAccessDenied,
                  "cannot identify the caller " + message->getSender() + ": " + e.getMessage());
  }
}

}  // namespace virtscratch::daemon::bus
