#include "daemon/libvirt/libvirt_event_loop.h"

#include <libvirt/libvirt.h>

#include <map>
#include <mutex>

namespace virtscratch::daemon::libvirt {
namespace {

// GLib requires the GSource to come first: these are allocated by g_source_new and zeroed.
struct HandleSource {
  GSource source;
  int watch;
  int fd;
  gpointer tag;
  virEventHandleCallback cb;
  void* opaque;
  virFreeCallback ff;
};

struct TimeoutSource {
  GSource source;
  int timer;
  int frequency;  // ms; -1 disabled, 0 every iteration. Guarded by Registry::mutex.
  virEventTimeoutCallback cb;
  void* opaque;
  virFreeCallback ff;
};

// Every GSource operation on a registered source happens under `mutex`, after the lookup: once
// a source leaves the maps nobody can reach it, and only the deferred free drops the last ref.
struct Registry {
  std::mutex mutex;
  GMainContext* context = nullptr;
  int nextId = 1;
  std::map<int, HandleSource*> handles;
  std::map<int, TimeoutSource*> timeouts;
};

// Never destroyed: libvirt may still remove handles while the process exits.
Registry& registry() {
  static auto* r = new Registry;
  return *r;
}

GIOCondition toGLib(int events) {
  unsigned c = 0;
  if (events & VIR_EVENT_HANDLE_READABLE) c |= G_IO_IN;
  if (events & VIR_EVENT_HANDLE_WRITABLE) c |= G_IO_OUT;
  // poll() reports errors and hang-ups whether asked or not; asking keeps GLib from ignoring them.
  if (events & VIR_EVENT_HANDLE_ERROR) c |= G_IO_ERR;
  if (events & VIR_EVENT_HANDLE_HANGUP) c |= G_IO_HUP;
  return static_cast<GIOCondition>(c);
}

int toLibvirt(GIOCondition c) {
  int events = 0;
  if (c & G_IO_IN) events |= VIR_EVENT_HANDLE_READABLE;
  if (c & G_IO_OUT) events |= VIR_EVENT_HANDLE_WRITABLE;
  if (c & G_IO_ERR) events |= VIR_EVENT_HANDLE_ERROR;
  if (c & G_IO_HUP) events |= VIR_EVENT_HANDLE_HANGUP;
  return events;
}

gboolean dispatchHandle(GSource* source, GSourceFunc, gpointer) {
  auto* h = reinterpret_cast<HandleSource*>(source);
  int events = toLibvirt(g_source_query_unix_fd(source, h->tag));
  if (events != 0) h->cb(h->watch, h->fd, events, h->opaque);
  return G_SOURCE_CONTINUE;
}

void armTimeout(TimeoutSource* t, int frequency) {
  g_source_set_ready_time(
      &t->source,
      frequency < 0 ? -1 : g_get_monotonic_time() + static_cast<gint64>(frequency) * 1000);
}

gboolean dispatchTimeout(GSource* source, GSourceFunc, gpointer) {
  auto* t = reinterpret_cast<TimeoutSource*>(source);
  {
    // Re-armed before the callback, so that an update made by the callback wins.
    std::lock_guard lock(registry().mutex);
    armTimeout(t, t->frequency);
  }
  t->cb(t->timer, t->opaque);
  return G_SOURCE_CONTINUE;
}

GSourceFuncs kHandleFuncs = {nullptr, nullptr, dispatchHandle, nullptr, nullptr, nullptr};
GSourceFuncs kTimeoutFuncs = {nullptr, nullptr, dispatchTimeout, nullptr, nullptr, nullptr};

// libvirt's contract: the free function runs after the remove call returned, from the loop.
void deferFree(GSource* source, virFreeCallback ff, void* opaque) {
  struct Pending {
    GSource* source;
    virFreeCallback ff;
    void* opaque;
  };
  GSource* idle = g_idle_source_new();
  g_source_set_callback(
      idle,
      [](gpointer data) -> gboolean {
        auto* p = static_cast<Pending*>(data);
        if (p->ff != nullptr) p->ff(p->opaque);
        g_source_unref(p->source);
        delete p;
        return G_SOURCE_REMOVE;
      },
      new Pending{source, ff, opaque}, nullptr);
  g_source_attach(idle, registry().context);
  g_source_unref(idle);
}

int addHandle(int fd, int events, virEventHandleCallback cb, void* opaque, virFreeCallback ff) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  GSource* source = g_source_new(&kHandleFuncs, sizeof(HandleSource));
  auto* h = reinterpret_cast<HandleSource*>(source);
  h->watch = r.nextId++;
  h->fd = fd;
  h->cb = cb;
  h->opaque = opaque;
  h->ff = ff;
  h->tag = g_source_add_unix_fd(source, fd, toGLib(events));
  g_source_set_name(source, "libvirt handle");
  g_source_attach(source, r.context);
  r.handles[h->watch] = h;
  return h->watch;
}

void updateHandle(int watch, int events) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.handles.find(watch);
  if (it == r.handles.end()) return;
  g_source_modify_unix_fd(&it->second->source, it->second->tag, toGLib(events));
}

int removeHandle(int watch) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.handles.find(watch);
  if (it == r.handles.end()) return -1;
  HandleSource* h = it->second;
  r.handles.erase(it);
  g_source_destroy(&h->source);
  deferFree(&h->source, h->ff, h->opaque);
  return 0;
}

int addTimeout(int frequency, virEventTimeoutCallback cb, void* opaque, virFreeCallback ff) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  GSource* source = g_source_new(&kTimeoutFuncs, sizeof(TimeoutSource));
  auto* t = reinterpret_cast<TimeoutSource*>(source);
  t->timer = r.nextId++;
  t->frequency = frequency;
  t->cb = cb;
  t->opaque = opaque;
  t->ff = ff;
  g_source_set_name(source, "libvirt timeout");
  armTimeout(t, frequency);
  g_source_attach(source, r.context);
  r.timeouts[t->timer] = t;
  return t->timer;
}

void updateTimeout(int timer, int frequency) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.timeouts.find(timer);
  if (it == r.timeouts.end()) return;
  it->second->frequency = frequency;
  armTimeout(it->second, frequency);
}

int removeTimeout(int timer) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.timeouts.find(timer);
  if (it == r.timeouts.end()) return -1;
  TimeoutSource* t = it->second;
  r.timeouts.erase(it);
  g_source_destroy(&t->source);
  deferFree(&t->source, t->ff, t->opaque);
  return 0;
}

}  // namespace

Status registerGLibEventLoop(GMainContext* context) {
  Registry& r = registry();
  {
    std::lock_guard lock(r.mutex);
    if (r.context == context) return {};
    if (r.context != nullptr) {
      return failed("libvirt's event loop is registered on another GLib context already");
    }
    r.context = g_main_context_ref(context);
  }
  if (virInitialize() < 0) return failed("cannot initialise libvirt (virInitialize failed)");
  virEventRegisterImpl(addHandle, updateHandle, removeHandle, addTimeout, updateTimeout,
                       removeTimeout);
  return {};
}

}  // namespace virtscratch::daemon::libvirt
