// The seam between worker threads and the main loop: work finished elsewhere is handed back with
// post(), and runs on the loop thread. The real one (main.cpp) adds a one-shot idle source to
// the loop's context, not g_main_context_invoke, which would run `fn` at once when called on the
// loop thread; tests use a queue they drain themselves.
#pragma once

#include <functional>

namespace virtscratch::daemon {

class LoopInvoker {
 public:
  virtual ~LoopInvoker() = default;
  // Thread-safe. `fn` runs later on the loop thread, never inside post().
  virtual void post(std::function<void()> fn) = 0;
  // Thread-safe. `fn` runs on the loop thread after about `delayMs`. Loops that do not keep
  // time (the tests' queues) run it at their next turn, as post() would.
  virtual void postAfter(unsigned delayMs, std::function<void()> fn) {
    (void)delayMs;
    post(std::move(fn));
  }
};

}  // namespace virtscratch::daemon
