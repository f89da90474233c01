// Growing images: the container, the last partition (GPT backup header moved to the new end) and,
// where it can be done offline, the filesystem (resize2fs for ext*). Shrinking is refused.
#pragma once

#include <cstdint>
#include <string>

#include "base/progress.h"
#include "base/status.h"
#include "image/open_image.h"

namespace virtscratch::image {

struct ResizeResult {
  uint64_t oldSize = 0;
  uint64_t newSize = 0;
  bool partitionGrown = false;
  bool filesystemGrown = false;
  // For people: what was not grown and why ("xfs can only be grown while mounted: run
  // xfs_growfs in the guest"); empty when everything was grown.
  std::string note;
};

// Grows the image at `path`, opened as `options` say, to `newSize` bytes of guest-visible size.
// A newSize below the current size is refused with kInvalidArgument naming both; an equal size
// changes nothing.
Result<ResizeResult> resizeImage(const std::string& path, uint64_t newSize,
                                 const OpenOptions& options, ProgressSink* progress = nullptr);

}  // namespace virtscratch::image
