// How long operations report progress and learn that they should stop. Implementations must be
// safe to call from the thread doing the work; operations call report() at most every few MiB.
#pragma once

#include <cstdint>

namespace virtscratch {

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void report(uint64_t done, uint64_t total) = 0;
  // Polled between chunks of work; when true, the operation stops with ErrorCode::kCancelled
  // and removes what it made.
  virtual bool cancelled() const { return false; }
};

}  // namespace virtscratch
