// Import of a gzip stream (one or several members, as gzip, pigz and `cat a.gz b.gz` make) into a
// sparse image: runs of zeros become holes, CRC32 and ISIZE of every member are checked.
#pragma once

#include <cstdint>

#include "base/progress.h"
#include "base/status.h"
#include "image/spec.h"

namespace virtscratch::image {

struct ImportOptions {
  ProgressSink* progress = nullptr;  // compressed bytes read; total 0 when unknown (a pipe)
};

// Decompresses `inFd` (a file or a pipe) into `outFd`, an empty regular file, writing only
// non-zero blocks. A truncated, corrupt or non-gzip input fails with kInvalidArgument naming the
// compressed offset where it went wrong. Returns the decompressed size.
Result<uint64_t> importGzip(int inFd, int outFd, const ImportOptions& options);

}  // namespace virtscratch::image
