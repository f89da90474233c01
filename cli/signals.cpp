#include "cli/signals.h"

#include <signal.h>

#include <atomic>

#include "base/temp_file.h"

namespace virtscratch::cli {
namespace {

std::atomic<int> gSignal{0};

void onSignal(int sig) {
  if (gSignal.exchange(sig) != 0) {
    removeTempFilesOnSignal();
    signal(sig, SIG_DFL);
    raise(sig);
  }
}

}  // namespace

void installSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
  // A reader that goes away (export to a pipe) is an error to report, not a silent death.
  signal(SIGPIPE, SIG_IGN);
}

int signalReceived() { return gSignal.load(); }

}  // namespace virtscratch::cli
