// D-Bus strings are UTF-8: a string that is not would make sd-bus refuse the whole message with a
// vague error, so arguments are checked before they go on the bus. Pure function, any thread.
#pragma once

#include <string_view>

#include "base/status.h"

namespace virtscratch::client {

// kInvalidArgument naming `what` and the offset of the first bad byte.
Status requireUtf8(std::string_view what, std::string_view value);

}  // namespace virtscratch::client
