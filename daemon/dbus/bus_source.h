// Puts an sd-bus connection (through sdbus-c++) into a GLib main context, so the loop thread
// owns it: every method handler, reply and signal runs on that thread. Before every poll the
// source asks the connection again for its fd, events and timeout (the events gain POLLOUT
// while replies wait to be written; the timeout is 0 while messages wait to be processed), and
// it processes requests until none is pending.
#pragma once

#include <glib.h>
#include <sdbus-c++/IConnection.h>

#include <functional>
#include <string>

namespace virtscratch::daemon::bus {

class BusSource {
 public:
  // Attaches to `context` (nullptr: the default context). `connection` must outlive this.
  // `onFailure` runs (on the loop thread) when the connection fails, e.g. the bus went away;
  // the source then stops polling it.
  BusSource(sdbus::IConnection& connection, GMainContext* context,
            std::function<void(const std::string&)> onFailure);
  ~BusSource();  // detaches
  BusSource(const BusSource&) = delete;
  BusSource& operator=(const BusSource&) = delete;

 private:
  GSource* source_;
  std::function<void(const std::string&)> onFailure_;
};

}  // namespace virtscratch::daemon::bus
