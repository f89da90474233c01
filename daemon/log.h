// The daemon's log. Under journald (the JOURNAL_STREAM that systemd sets names this process's
// stderr) each line goes to the journal natively, with PRIORITY, SYSLOG_IDENTIFIER=virt-scratchd
// and the fields given (IMAGE_ID=, DOMAIN_UUID=), so that `journalctl IMAGE_ID=...` finds an
// image's story. Elsewhere, and whenever the journal refuses a message, the line goes to stderr
// with a syslog priority prefix ("<4>message"), fields left out. Thread-safe: each line is one
// sd_journal_sendv() or one write().
#pragma once

#include <initializer_list>
#include <string_view>

namespace virtscratch::daemon {

enum class LogLevel { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// A journal field. `name` is upper case, digits and '_' (journald drops other names);
// `value` may be any text.
struct LogField {
  std::string_view name;
  std::string_view value;
};

// The fields people filter the daemon's lines on.
inline constexpr std::string_view kImageIdField = "IMAGE_ID";
inline constexpr std::string_view kDomainUuidField = "DOMAIN_UUID";

void logLine(LogLevel level, std::string_view message);
void logLine(LogLevel level, std::string_view message, std::initializer_list<LogField> fields);

}  // namespace virtscratch::daemon
