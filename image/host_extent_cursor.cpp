#include "image/host_extent_cursor.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace virtscratch::image {

Result<std::optional<Extent>> HostExtentCursor::after(uint64_t pos) {
  if (!(valid_ && origin_ <= pos && pos < end_)) VS_RETURN_IF_ERROR(seek(pos));
  if (start_ >= end_) return std::optional<Extent>();
  return std::optional<Extent>(Extent{start_, end_ - start_});
}

Status HostExtentCursor::seek(uint64_t pos) {
  valid_ = true;
  origin_ = pos;
  start_ = end_ = fileSize_;
  if (pos >= fileSize_) return {};
  off_t data = lseek(fd_, static_cast<off_t>(pos), SEEK_DATA);
  if (data < 0) {
    if (errno == ENXIO) return {};
    if (errno != EINVAL && errno != EOPNOTSUPP) return errnoStatus("seek to data", errno);
    start_ = pos;  // no hole reporting: all data
    return {};
  }
  off_t hole = lseek(fd_, data, SEEK_HOLE);
  if (hole < 0) return errnoStatus("seek to hole", errno);
  start_ = static_cast<uint64_t>(data);
  end_ = std::min(static_cast<uint64_t>(hole), fileSize_);
  return {};
}

}  // namespace virtscratch::image
