#include "daemon/log.h"

#include <unistd.h>

#include <string>

namespace virtscratch::daemon {

void logLine(LogLevel level, std::string_view message) {
  std::string line = "<" + std::to_string(static_cast<int>(level)) + ">";
  line += message;
  line += '\n';
  // A log line that cannot be written has nowhere else to go.
  [[maybe_unused]] ssize_t n = write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace virtscratch::daemon
