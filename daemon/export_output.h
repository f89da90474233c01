// Where an export goes: a file descriptor the caller opened and passed over the bus, so the kernel
// checked the caller's right to write there and the daemon never names a path of its own. Accepted:
// open for writing, and an empty regular file at offset 0 or a blocking pipe. Anything else is
// refused with kInvalidArgument naming what the descriptor is. checkExportOutput runs on the loop
// thread (fstat and fcntl only, nothing that can block); emptyExportOutput on the worker.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "base/unique_fd.h"

namespace virtscratch::daemon {

struct ExportOutput {
  std::shared_ptr<UniqueFd> fd;
  bool regular = false;  // a regular file (else a pipe)
  std::string shown;     // what the descriptor is, for messages: "'/tmp/a.gz'" or "a pipe"
};

Result<ExportOutput> checkExportOutput(UniqueFd fd);

// After a failed or cancelled export: a regular file is emptied again, so that no half-written
// gzip is left that looks whole. A pipe's reader sees the stream end early instead.
Status emptyExportOutput(const ExportOutput& output);

}  // namespace virtscratch::daemon
