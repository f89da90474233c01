#include "client/bus_connection.h"

#include <time.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "client/bus_error.h"
#include "vocabulary/bus_names.h"

namespace virtscratch::client {
namespace {

struct PendingReply {
  MessagePtr reply;
  bool done = false;
};

int onReply(sd_bus_message* message, void* userdata, sd_bus_error* /*unused*/) {
  auto* pending = static_cast<PendingReply*>(userdata);
  pending->reply.reset(sd_bus_message_ref(message));
  pending->done = true;
  return 0;
}

uint64_t monotonicUs() {
  struct timespec now {};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
}

Status busTimedOut() {
  return failed("the system bus did not answer in time (systemctl status dbus)");
}

}  // namespace

Status busFailure(std::string_view what, int r) {
  int err = -r;
  if (err == ECONNRESET || err == ENOTCONN || err == EPIPE) {
    return failed("the connection to the system bus was lost while " + std::string(what));
  }
  return failed(std::string(what) + " failed: " + std::strerror(err));
}

Result<BusConnection> BusConnection::openSystem() {
  sd_bus* raw = nullptr;
  int r = sd_bus_open_system(&raw);
  if (r < 0) {
    return failed(std::string("cannot connect to the system bus: ") + std::strerror(-r) +
                  "; check that dbus-daemon runs (systemctl status dbus)");
  }
  return BusConnection(BusPtr(raw));
}

Result<MessagePtr> BusConnection::newCall(const BusMethod& method, std::string_view path) {
  sd_bus_message* raw = nullptr;
  std::string pathText(path), interface(method.interface), member(method.member);
  int r = sd_bus_message_new_method_call(bus_.get(), &raw, vocabulary::kBusName, pathText.c_str(),
                                         interface.c_str(), member.c_str());
  if (r < 0) return busFailure("making the call " + member, r);
  return MessagePtr(raw);
}

Status BusConnection::dispatch(std::string_view what, const std::function<bool()>& done,
                               uint64_t untilUs) {
  while (!done() && monotonicUs() < untilUs) {
    int r = sd_bus_process(bus_.get(), nullptr);
    if (r < 0) return busFailure(what, r);
    if (r == 0) break;
  }
  return {};
}

Status BusConnection::wait(uint64_t waitUs, std::string_view what) {
  int r = sd_bus_wait(bus_.get(), waitUs);
  if (r < 0 && r != -EINTR) return busFailure(what, r);
  return {};
}

Status BusConnection::processThenWait(uint64_t waitUs, const std::function<bool()>& done) {
  const uint64_t until = monotonicUs() + waitUs;
  VS_RETURN_IF_ERROR(dispatch("reading from the bus", done, until));
  uint64_t now = monotonicUs();
  if (done() || now >= until) return {};
  return wait(until - now, "waiting on the bus");
}

Result<MessagePtr> BusConnection::call(MessagePtr call, std::string_view expected,
                                       uint64_t timeoutUs) {
  std::string member = sd_bus_message_get_member(call.get());
  PendingReply pending;
  sd_bus_slot* rawSlot = nullptr;
  int r = sd_bus_call_async(bus_.get(), &rawSlot, call.get(), onReply, &pending, timeoutUs);
  if (r < 0) return busFailure("sending " + member, r);
  SlotPtr slot(rawSlot);
  call.reset();
  const uint64_t until = monotonicUs() + timeoutUs;
  const std::string waiting = "waiting for the answer to " + member;
  while (true) {
    VS_RETURN_IF_ERROR(dispatch(
        waiting, [&pending] { return pending.done; }, until));
    if (pending.done) break;
    uint64_t now = monotonicUs();
    // sd-bus times out a call only once the bus has taken the connection; a bus that never
    // answers its authentication would be waited for far longer.
    if (now >= until) {
      if (sd_bus_is_ready(bus_.get()) <= 0) return busTimedOut();
      return failed("virt-scratchd did not answer " + member + " in time");
    }
    VS_RETURN_IF_ERROR(wait(until - now, waiting));
  }
  sd_bus_message* reply = pending.reply.get();
  if (sd_bus_message_is_method_error(reply, nullptr) != 0) {
    const sd_bus_error* error = sd_bus_message_get_error(reply);
    std::string name = error != nullptr && error->name != nullptr ? error->name : "";
    std::string text = error != nullptr && error->message != nullptr ? error->message : "";
    // sd-bus answers a pending call itself when the connection closes, and when the call times
    // out; if the bus never took the connection (its Hello got no answer), the daemon was not
    // even asked.
    if (name == SD_BUS_ERROR_NO_REPLY && sd_bus_is_open(bus_.get()) <= 0) {
      return failed("the connection to the system bus was lost while waiting for the answer to " +
                    member + " (" + text + ")");
    }
    if (name == SD_BUS_ERROR_NO_REPLY && sd_bus_is_ready(bus_.get()) <= 0) return busTimedOut();
    return statusFromBusError(name, text);
  }
  const char* signature = sd_bus_message_get_signature(reply, 1);
  if (std::string_view(signature != nullptr ? signature : "") != expected) {
    return failed("virt-scratchd answered " + member + " with the signature '" +
                  (signature != nullptr ? signature : "") + "', not '" + std::string(expected) +
                  "': is it of another version? (virt-scratch status)");
  }
  return std::move(pending.reply);
}

Result<SlotPtr> BusConnection::addMatch(const std::string& rule, sd_bus_message_handler_t handler,
                                        sd_bus_message_handler_t installed, void* userdata) {
  sd_bus_slot* raw = nullptr;
  int r = sd_bus_add_match_async(bus_.get(), &raw, rule.c_str(), handler, installed, userdata);
  if (r < 0) return busFailure("adding the match " + rule, r);
  return SlotPtr(raw);
}

}  // namespace virtscratch::client
