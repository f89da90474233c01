// The hook's last line of defence against waiting for ever: sd-bus has no timeout while it
// connects and authenticates, so a hung dbus-daemon would hold the domain's start (libvirt waits
// for the hook). armWatchdog() makes the process print a prepared line on stderr and _exit with
// a prepared code when the time is up, whatever it is doing. One watchdog per process.
#pragma once

#include <chrono>
#include <string>

namespace virtscratch::hook {

// After `after`, writes `line` (a newline is added) to stderr and exits with `exitCode`.
// Calling it again replaces the line, the code and the time.
void armWatchdog(std::chrono::milliseconds after, const std::string& line, int exitCode);

}  // namespace virtscratch::hook
