// The log's stderr form, which tests and people read when the daemon does not run under journald.
// Each case runs in a child: the log decides once per process where its lines go.
#include "daemon/log.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>

#include "base/unique_fd.h"

namespace virtscratch::daemon {
namespace {

// What `body` writes to stderr in a child process.
std::string stderrOf(const std::function<void()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  UniqueFd readEnd(fds[0]);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    body();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = read(readEnd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int status = 0;
  waitpid(pid, &status, 0);
  return out;
}

TEST(Log, WritesAPriorityPrefixedLineToStderrWithoutJournald) {
  std::string out = stderrOf([] {
    unsetenv("JOURNAL_STREAM");
    logLine(LogLevel::kWarning, "image a_vdb removed (released)",
            {{kImageIdField, "a_vdb"}, {kDomainUuidField, "u"}});
  });
  EXPECT_EQ(out, "<4>image a_vdb removed (released)\n");
}

TEST(Log, TakesAnInheritedJournalStreamThatIsNotItsStderrForNone) {
  std::string out = stderrOf([] {
    // A parent's stream: not the pipe this child's stderr is.
    setenv("JOURNAL_STREAM", "8:12345", 1);
    logLine(LogLevel::kError, "cannot open the pool");
  });
  EXPECT_EQ(out, "<3>cannot open the pool\n");
}

}  // namespace
}  // namespace virtscratch::daemon
