// SIGINT, SIGTERM and SIGHUP during a command: the first one asks long operations to stop (they
// remove what they made and return kCancelled); a second one removes temporary files and ends
// the process at once.
#pragma once

namespace virtscratch::cli {

void installSignalHandlers();
// The signal that arrived, or 0.
int signalReceived();

}  // namespace virtscratch::cli
