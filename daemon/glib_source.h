// Running a function once on a GLib main context, from any thread: the daemon's LoopInvoker,
// the libvirt connection's retry and close timers, and the tests' loops all hand work to a loop
// this way.
#pragma once

#include <glib.h>

#include <functional>
#include <optional>

namespace virtscratch::daemon {

// Attaches a source to `context` that runs `fn` once on the context's loop thread: as soon as the
// loop is idle when `delayMs` is 0, else after `delayMs`. `priority` replaces GLib's default for
// the source (G_PRIORITY_DEFAULT_IDLE for idle sources, G_PRIORITY_DEFAULT for timeouts).
// Thread-safe. Returns the source with a reference the caller owns: g_source_destroy cancels it,
// g_source_unref drops the reference (at once, for fire-and-forget).
GSource* runOnce(GMainContext* context, unsigned delayMs, std::function<void()> fn,
                 std::optional<int> priority = std::nullopt);

}  // namespace virtscratch::daemon
