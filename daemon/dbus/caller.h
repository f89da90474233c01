// Who sent the method call being handled: the uid the bus reports for the sender's connection
// (sd_bus_query_sender_creds; dbus-daemon answers from the socket's peer credentials, so the
// caller cannot pretend), and its groups: the gid and supplementary gids sd-bus gives for the
// sender (read from /proc/<pid>/status where the bus does not report them; to be replaced by
// GetConnectionCredentials' UnixGroupIDs). Call it inside a method handler, on the loop thread.
#pragma once

#include <sdbus-c++/IObject.h>

#include "daemon/service.h"
#include "image/status.h"

namespace virtscratch::daemon::bus {

// kAccessDenied when the sender cannot be identified (for example, it has left the bus).
Result<Caller> callerOf(const sdbus::IObject& object);

}  // namespace virtscratch::daemon::bus
