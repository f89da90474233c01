// Where an xfs filesystem keeps its internal log, read from the primary superblock of a filesystem
// the engine has just made. mkfs.xfs zeroes the log with FALLOC_FL_ZERO_RANGE, which leaves holes
// in a file: on raw LUKS, where unwritten sectors decrypt to noise, log recovery would read that
// noise as log records, so those holes are written as zeros before the image is encrypted.
#pragma once

#include "base/file_io.h"
#include "base/status.h"

namespace virtscratch::image {

// The byte range of the internal log of the xfs filesystem at the start of `fd`. Fails, naming
// what is wrong, when the superblock is not xfs's or the log is external.
Result<Extent> xfsLogRange(int fd);

}  // namespace virtscratch::image
