// Runs an external program from an argument vector with posix_spawn: no shell, stdin from
// /dev/null, stdout and stderr captured, LC_ALL=C so that output can be parsed.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"

namespace virtscratch {

struct ProcessOutput {
  int exitCode = 0;  // 128 + signal number when the program was killed
  std::string out;
  std::string err;
};

// Runs argv[0] (looked up in PATH) and waits for it. Fails only when the program cannot be
// started (the message says which Debian package to install, when known); a non-zero exit code
// is returned in ProcessOutput for the caller to judge. `environment` entries ("NAME=value") are
// added to the program's environment, replacing any of the same name.
Result<ProcessOutput> runProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& environment = {});

// runProcess, then turns a non-zero exit into kFailed: "<argv[0]> failed (exit N): <stderr>".
Result<ProcessOutput> runChecked(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& environment = {});

}  // namespace virtscratch
