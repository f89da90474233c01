#include "cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>

#include "cli/signals.h"
#include "image/size.h"

namespace virtscratch::cli {
namespace {

std::string formatDuration(double seconds) {
  if (seconds < 0 || seconds > 359999) return "--:--";
  auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

bool interruptRequested() { return signalReceived() != 0; }

ProgressBar::ProgressBar(std::string label, bool force)
    : label_(std::move(label)),
      enabled_(force || isatty(STDERR_FILENO) == 1),
      terminal_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { finish(); }

bool ProgressBar::cancelled() const { return interruptRequested(); }

void ProgressBar::report(uint64_t done, uint64_t total) {
  lastDone_ = done;
  lastTotal_ = total;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - lastDraw_ < std::chrono::milliseconds(terminal_ ? 100 : 1000)) return;
  lastDraw_ = now;
  draw(done, total, false);
}

void ProgressBar::finish() {
  if (!enabled_ || !drawn_) return;
  draw(lastDone_, lastTotal_, true);
  if (terminal_) std::fputc('\n', stderr);
  drawn_ = false;
  enabled_ = false;
}

void ProgressBar::draw(uint64_t done, uint64_t total, bool final) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  double left = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
  constexpr int kWidth = 24;
  int filled =
      total > 0 ? static_cast<int>(kWidth * static_cast<double>(done) / static_cast<double>(total))
                : 0;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, ' ');
  std::string totalText = total > 0 ? " of " + image::formatSize(total) : "";
  std::fprintf(stderr, "%s%s [%s] %s%s  %s/s  %s %s%s", terminal_ ? "\r" : "", label_.c_str(),
               bar.c_str(), image::formatSize(done).c_str(), totalText.c_str(),
               image::formatSize(static_cast<uint64_t>(rate)).c_str(),
               final ? formatDuration(elapsed).c_str() : formatDuration(left).c_str(),
               final ? "total" : "left", terminal_ ? "\033[K" : "\n");
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace virtscratch::cli
