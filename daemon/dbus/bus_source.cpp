#include "daemon/dbus/bus_source.h"

#include <poll.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>

namespace virtscratch::daemon::bus {
namespace {

// Requests handled per dispatch before other sources get a turn; the rest wait one iteration.
constexpr int kMaxRequestsPerDispatch = 64;

struct Source {
  GSource base;
  sdbus::IConnection* connection;
  const std::function<void(const std::string&)>* onFailure;
  gpointer fdTag;
  GIOCondition events;  // what the fd is polled for now
  gint64 deadlineUs;    // CLOCK_MONOTONIC (as g_get_monotonic_time), -1: none
};

GIOCondition toCondition(short events) {
  unsigned condition = 0;
  if (events & POLLIN) condition |= G_IO_IN;
  if (events & POLLOUT) condition |= G_IO_OUT;
  if (events & POLLPRI) condition |= G_IO_PRI;
  return static_cast<GIOCondition>(condition);
}

gboolean prepare(GSource* base, gint* timeoutMs) {
  auto* self = reinterpret_cast<Source*>(base);
  sdbus::IConnection::PollData data{};
  try {
    data = self->connection->getEventLoopPollData();
  } catch (const std::exception& e) {
    // Dispatch then meets the same failure and reports it.
    *timeoutMs = 0;
    return TRUE;
  }
  // g_source_modify_unix_fd wakes the context every time it is called: called on every prepare,
  // the loop would never sleep.
  if (GIOCondition events = toCondition(data.events); events != self->events) {
    g_source_modify_unix_fd(base, self->fdTag, events);
    self->events = events;
  }
  if (data.timeout_usec == UINT64_MAX) {
    self->deadlineUs = -1;
    *timeoutMs = -1;
    return FALSE;
  }
  self->deadlineUs = static_cast<gint64>(data.timeout_usec);
  gint64 left = self->deadlineUs - g_get_monotonic_time();
  if (left <= 0) {
    *timeoutMs = 0;
    return TRUE;
  }
  // Round up: waking a millisecond early would only spin once more.
  *timeoutMs = static_cast<gint>(std::min<gint64>((left + 999) / 1000, G_MAXINT));
  return FALSE;
}

gboolean check(GSource* base) {
  auto* self = reinterpret_cast<Source*>(base);
  if (g_source_query_unix_fd(base, self->fdTag) != 0) return TRUE;
  return self->deadlineUs >= 0 && g_get_monotonic_time() >= self->deadlineUs;
}

gboolean dispatch(GSource* base, GSourceFunc, gpointer) {
  auto* self = reinterpret_cast<Source*>(base);
  try {
    for (int i = 0; i < kMaxRequestsPerDispatch; ++i) {
      if (!self->connection->processPendingRequest()) break;
    }
  } catch (const std::exception& e) {
    // Handlers never throw past busCall, so this is the connection itself failing (the bus
    // went away): polling it again would only spin on the hung-up fd.
    (*self->onFailure)(std::string("the bus connection failed: ") + e.what());
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

GSourceFuncs kFuncs = {prepare, check, dispatch, nullptr, nullptr, nullptr};

}  // namespace

BusSource::BusSource(sdbus::IConnection& connection, GMainContext* context,
                     std::function<void(const std::string&)> onFailure)
    : onFailure_(std::move(onFailure)) {
  source_ = g_source_new(&kFuncs, sizeof(Source));
  auto* self = reinterpret_cast<Source*>(source_);
  self->connection = &connection;
  self->onFailure = &onFailure_;
  self->deadlineUs = -1;
  // sd-bus keeps one fd for the connection's lifetime; only its events change.
  auto data = connection.getEventLoopPollData();
  self->events = toCondition(data.events);
  self->fdTag = g_source_add_unix_fd(source_, data.fd, self->events);
  g_source_set_name(source_, "sd-bus");
  g_source_attach(source_, context);
}

BusSource::~BusSource() {
  g_source_destroy(source_);
  g_source_unref(source_);
}

}  // namespace virtscratch::daemon::bus
