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
  Caller caller;
  try {
    caller.uid = message->getCredsUid();
  } catch (const sdbus::Error& e) {
    return Status(ErrorCode::kAccessDenied,
                  "cannot identify the caller " + message->getSender() + ": " + e.getMessage());
  }
  caller.sender = message->getSender();
  // sd-bus may have to read the groups from /proc/<pid>/status (a sender that has gone, or a
  // /proc the unit hides, fails): then the groups stay empty, which means unknown (every process
  // has at least its gid), and what needs them is refused.
  try {
    caller.groups = message->getCredsSupplementaryGids();
    gid_t gid = message->getCredsGid();
    if (std::find(caller.groups.begin(), caller.groups.end(), gid) == caller.groups.end()) {
      caller.groups.insert(caller.groups.begin(), gid);
    }
  } catch (const sdbus::Error&) {
    caller.groups.clear();
  }
  return caller;
}

}  // namespace virtscratch::daemon::bus
