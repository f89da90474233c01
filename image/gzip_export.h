// Export of an image's guest bytes as a standard gzip stream (RFC 1952), in time proportional to
// the data: holes are emitted as precomputed compressed zero blocks after a full flush, their
// CRC is combined with crc32_combine, and data extents are compressed on several threads.
#pragma once

#include <cstdint>

#include "base/progress.h"
#include "base/status.h"
#include "image/disk_view.h"

namespace virtscratch::image {

struct ExportOptions {
  int level = 1;                     // 1..9, as gzip
  unsigned threads = 0;              // 0: one per online CPU
  ProgressSink* progress = nullptr;  // guest bytes done of virtualSize
};

// Writes all of `disk`'s guest bytes to `outFd` (a file or a pipe) as one gzip member that
// gunzip, zcat, `gzip -t` and Python's gzip module read.
Status exportGzip(const DiskView& disk, int outFd, const ExportOptions& options);

}  // namespace virtscratch::image
