// Owners of sd-bus's C handles: a connection (closed exactly once), a message, a slot
// (a pending call or a signal match, removed with it). Internal to the client
// library; a handle belongs to the thread that uses its connection.
#pragma once

#include <systemd/sd-bus.h>

#include <memory>

namespace virtscratch::client {

// Not flushed: every message the library sends is a call whose reply it waited for, and
// sd_bus_flush would first wait for a bus that never took the connection to take it.
struct SdBusClose {
  void operator()(sd_bus* bus) const { sd_bus_close_unref(bus); }
};
struct SdMessageUnref {
  void operator()(sd_bus_message* message) const { sd_bus_message_unref(message); }
};
struct SdSlotUnref {
  void operator()(sd_bus_slot* slot) const { sd_bus_slot_unref(slot); }
};

using BusPtr = std::unique_ptr<sd_bus, SdBusClose>;
using MessagePtr = std::unique_ptr<sd_bus_message, SdMessageUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SdSlotUnref>;

}  // namespace virtscratch::client
