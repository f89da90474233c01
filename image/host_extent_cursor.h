// The data extents of a file, looked up with SEEK_DATA/SEEK_HOLE as they are asked for, keeping
// only the last one found: asked in increasing order, each extent is looked up once, and memory
// does not grow with the file's fragmentation. The qcow2 reader uses it to find which bytes of
// its data clusters are data on the host. Used by one thread.
#pragma once

#include <cstdint>
#include <optional>

#include "base/file_io.h"
#include "base/status.h"

namespace virtscratch::image {

class HostExtentCursor {
 public:
  HostExtentCursor(int fd, uint64_t fileSize) : fd_(fd), fileSize_(fileSize) {}

  // The first data extent of the file that ends after `pos`; nullopt when there is none. On
  // filesystems without hole reporting everything from `pos` on is data.
  Result<std::optional<Extent>> after(uint64_t pos);

 private:
  Status seek(uint64_t pos);

  int fd_;
  uint64_t fileSize_;
  bool valid_ = false;
  uint64_t origin_ = 0, start_ = 0,
           end_ = 0;  // [start_, end_) is the first data at or after origin_
};

}  // namespace virtscratch::image
