// Progress on a terminal: "[#####     ] 1.2 GiB of 10 GiB  350 MiB/s  0:25 left", redrawn on
// stderr at most 10 times a second. Silent unless stderr is a terminal or `force` is set (then
// it prints one line per update, for logs and pipes). Lives on the thread doing the work.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/progress.h"

namespace virtscratch::cli {

class ProgressBar final : public ProgressSink {
 public:
  ProgressBar(std::string label, bool force);
  ~ProgressBar() override;
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void report(uint64_t done, uint64_t total) override;
  bool cancelled() const override;
  // Ends the bar's line (the destructor does it too).
  void finish();

 private:
  void draw(uint64_t done, uint64_t total, bool final);
  std::string label_;
  bool enabled_;
  bool terminal_;
  bool drawn_ = false;
  uint64_t lastDone_ = 0, lastTotal_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point lastDraw_;
};

// Set by the SIGINT/SIGTERM handler (cli/signals.h); long operations see it through
// ProgressBar::cancelled() and stop cleanly.
bool interruptRequested();

}  // namespace virtscratch::cli
