// Bus errors back into errors as values: every org.virtscratch.Scratch1.Error.* name (one per
// ErrorCode, errorCodeName) becomes its ErrorCode with the daemon's message, and the bus's own
// errors (the daemon not running, no reply, a timeout, a policy denial, no such object) become
// one sentence a user can act on. Pure functions, any thread; no sdbus header, so tests and
// programs can check the mapping without a bus.
#pragma once

#include <string_view>

#include "base/status.h"

namespace virtscratch::client {

// The Status for the D-Bus error `name` with `message`.
Status statusFromBusError(std::string_view name, std::string_view message);

}  // namespace virtscratch::client
