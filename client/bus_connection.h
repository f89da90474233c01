// One connection to the system bus through sd-bus, and the calls made on it. A call is sent at
// once, even before the bus has answered the connection's Hello, and the connection is then
// processed until its reply: the hook's one Allocate costs one wait, not two. While waiting, the
// signals that arrive go to the matches added here. Internal to the client library; used from one
// thread at a time, never from within a match's handler.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"
#include "client/bus_methods.h"
#include "client/sd_bus_handles.h"

namespace virtscratch::client {

class BusConnection {
 public:
  // The system bus (sd-bus honours DBUS_SYSTEM_BUS_ADDRESS). Only the socket is connected here.
  static Result<BusConnection> openSystem();

  // A call of `method` on the daemon's object `path`, for the caller to append the arguments.
  Result<MessagePtr> newCall(const BusMethod& method, std::string_view path);
  // Sends `call` and processes the connection until its reply or `timeoutUs`. An error reply
  // comes back as its Status (statusFromBusError); a reply whose signature is not `expected` as
  // kFailed naming both.
  Result<MessagePtr> call(MessagePtr call, std::string_view expected, uint64_t timeoutUs);

  // Calls `handler(message, userdata)` for each signal matching `rule` until the slot goes. The
  // bus is asked without waiting: it has the rule before anything sent after this call, and
  // `installed(reply, userdata)` gets its answer (an error if the bus refused the rule). sd-bus
  // checks a rule's sender only against unique names: a handler that needs the sender to be a
  // well-known name's owner checks sd_bus_message_get_sender itself.
  Result<SlotPtr> addMatch(const std::string& rule, sd_bus_message_handler_t handler,
                           sd_bus_message_handler_t installed, void* userdata);
  // Handles what has arrived (signals to their matches) until `done()` holds, then, unless it
  // does, waits for more until `waitUs` has passed since the call began.
  Status processThenWait(uint64_t waitUs, const std::function<bool()>& done);

 private:
  explicit BusConnection(BusPtr bus) : bus_(std::move(bus)) {}
  // Handles the messages that have arrived, one by one, until `done()` holds, none is left or
  // the monotonic clock reaches `untilUs`: a message read after the one awaited (the bus
  // closing, say) is left for later, and a stream of messages cannot hold the caller past
  // `untilUs`. `what` names the step in an error.
  Status dispatch(std::string_view what, const std::function<bool()>& done, uint64_t untilUs);
  // Waits at most `waitUs` for the connection to have work.
  Status wait(uint64_t waitUs, std::string_view what);

  BusPtr bus_;
};

// A failure of sd-bus itself (-errno `r`) while doing `what`.
Status busFailure(std::string_view what, int r);

}  // namespace virtscratch::client
