// Where an output file goes: its directory (opened once, so the file is built and named there
// even if the path changes meanwhile) and its name, with the checks every command shares.
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"

namespace virtscratch::image {

struct OutputPath {
  UniqueFd dir;
  std::string name;  // a plain name: no '/', not "." or ".."
  std::string path;  // as given, for messages
};

// Opens the directory of `path`. Fails on an empty path, one ending in '/', or a missing
// directory, naming the path.
Result<OutputPath> openOutputPath(const std::string& path);

// Fails with kInvalidArgument unless `name` is a plain file name: not empty, no '/', not "." or
// "..".
Status checkFileName(std::string_view name);

// Fails with kAlreadyExists when `name` exists in `dirFd` and `force` is false (the message says
// how to replace it), or when it exists and is not a regular file (never replaced).
Status checkDestination(int dirFd, std::string_view name, bool force);

// `status` of a failed build of the output `path`, saying that nothing was made there: "'path'
// was not created", or, when an existing file was to be replaced, that it is left as it was.
Status notWritten(Status status, int dirFd, std::string_view name, const std::string& path);

}  // namespace virtscratch::image
