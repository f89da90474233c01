// The libvirt tests' shared pieces: libvirt's event loop registered on a GLib context of the test
// thread, a LoopInvoker on that context, and a way to turn it until a state holds. libvirt's
// test driver (test:///default) keeps one state for every connection of the process while one
// is open, so a test drives domains on its own connection and the code under test sees them.
#pragma once

#include <glib.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>

#include "daemon/glib_source.h"
#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_event_loop.h"
#include "daemon/loop_invoker.h"

namespace virtscratch::daemon::libvirt::testing {

inline GMainContext* testContext() {
  static GMainContext* context = g_main_context_new();
  return context;
}

inline void registerForTests() {
  ASSERT_TRUE(registerGLibEventLoop(testContext()).ok());
  quietLibvirtErrors();
}

class GLibInvoker final : public LoopInvoker {
 public:
  void post(std::function<void()> fn) override {
    g_source_unref(runOnce(testContext(), 0, std::move(fn)));
  }
};

// Iterates the test context until `done` holds; false at the deadline. A ticking timer bounds
// each blocking iteration so the deadline is noticed even when nothing happens.
inline bool spinUntil(const std::function<bool()>& done,
                      std::chrono::seconds deadline = std::chrono::seconds(20)) {
  GSource* tick = g_timeout_source_new(50);
  g_source_set_callback(
      tick, [](gpointer) -> gboolean { return G_SOURCE_CONTINUE; }, nullptr, nullptr);
  g_source_attach(tick, testContext());
  auto end = std::chrono::steady_clock::now() + deadline;
  bool ok = true;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) {
      ok = false;
      break;
    }
    g_main_context_iteration(testContext(), TRUE);
  }
  g_source_destroy(tick);
  g_source_unref(tick);
  return ok;
}

// Runs what is ready now (events queued by libvirt, posted work), without waiting.
inline void drainReady() {
  for (int i = 0; i < 100 && g_main_context_iteration(testContext(), FALSE); ++i) {
  }
}

}  // namespace virtscratch::daemon::libvirt::testing
