#include "daemon/log.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace virtscratch::daemon {
namespace {

// systemd sets JOURNAL_STREAM to "<device>:<inode>" of the stream it connects stderr to. A
// child that inherited the variable but not the stream (stderr redirected) must not take it
// for its own, hence the comparison with stderr itself.
bool stderrIsJournal() {
  static const bool journal = [] {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    unsigned long long device = 0;
    unsigned long long inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0) return false;
    return st.st_dev == device && st.st_ino == inode;
  }();
  return journal;
}

bool sendToJournal(LogLevel level, std::string_view message,
                   std::initializer_list<LogField> fields) {
  std::vector<std::string> items;
  items.reserve(3 + fields.size());
  items.push_back("MESSAGE=" + std::string(message));
  items.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
  items.push_back("SYSLOG_IDENTIFIER=virt-scratchd");
  for (const LogField& f : fields) {
    items.push_back(std::string(f.name) + "=" + std::string(f.value));
  }
  std::vector<iovec> iov;
  iov.reserve(items.size());
  for (std::string& item : items) iov.push_back({item.data(), item.size()});
  return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
}

void writeToStderr(LogLevel level, std::string_view message) {
  std::string line = "<" + std::to_string(static_cast<int>(level)) + ">";
  line += message;
  line += '\n';
  // A log line that cannot be written has nowhere else to go.
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

void logLine(LogLevel level, std::string_view message) { logLine(level, message, {}); }

void logLine(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (stderrIsJournal() && sendToJournal(level, message, fields)) return;
  writeToStderr(level, message);
}

}  // namespace virtscratch::daemon
