#include "daemon/glib_source.h"

#include <utility>

namespace virtscratch::daemon {

GSource* runOnce(GMainContext* context, unsigned delayMs, std::function<void()> fn,
                 std::optional<int> priority) {
  GSource* source = delayMs == 0 ? g_idle_source_new() : g_timeout_source_new(delayMs);
  if (priority) g_source_set_priority(source, *priority);
  g_source_set_callback(
      source,
      [](gpointer data) -> gboolean {
        (*static_cast<std::function<void()>*>(data))();
        return G_SOURCE_REMOVE;
      },
      new std::function<void()>(std::move(fn)),
      [](gpointer data) { delete static_cast<std::function<void()>*>(data); });
  g_source_attach(source, context);  // thread-safe; wakes the loop
  return source;
}

}  // namespace virtscratch::daemon
