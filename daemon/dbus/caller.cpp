#include "daemon/dbus/caller.h"

#include <sdbus-c++/Error.h>
#include <sdbus-c++/Message.h>

#include <algorithm>
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
    caller.groups = message->getCredsSupplementaryGids();
    gid_t gid = message->getCredsGid();
    if (std::find(caller.groups.begin(), caller.groups.end(), gid) == caller.groups.end()) {
      caller.groups.insert(caller.groups.begin(), gid);
    }
    caller.sender = message->getSender();
    return caller;
  } catch (const sdbus::Error& e) {
    return Status(ErrorCode::kAccessDenied,
                  "cannot identify the caller " + message->getSender() + ": " + e.getMessage());
  }
}

}  // namespace virtscratch::daemon::bus
