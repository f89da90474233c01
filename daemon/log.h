// Log lines on stderr with a syslog priority prefix ("<4>"), which journald reads as the
// priority. Thread-safe: each line is written with one write().
#pragma once

#include <string_view>

namespace virtscratch::daemon {

enum class LogLevel { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

void logLine(LogLevel level, std::string_view message);

}  // namespace virtscratch::daemon
