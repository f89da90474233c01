// The guest-visible bytes of an image file, whatever its format: what export, clone, info and the
// qcow2 writer read. Implementations: raw (raw_disk_view.cpp) and qcow2 (qcow2_reader.cpp).
// All methods are const and safe to call from several threads at once (they use pread only).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "image/file_io.h"
#include "image/spec.h"
#include "image/status.h"
#include "image/unique_fd.h"

namespace virtscratch::image {

class DiskView {
 public:
  virtual ~DiskView() = default;
  virtual ImageFormat format() const = 0;
  virtual uint64_t virtualSize() const = 0;
  // Guest ranges that may hold non-zero bytes, sorted, disjoint, merged; everything else reads as
  // zeros. Found from metadata (SEEK_DATA/SEEK_HOLE, qcow2 tables); holes are never read.
  virtual Result<std::vector<Extent>> dataExtents() const = 0;
  // Reads guest bytes [offset, offset + out.size()); fails past virtualSize().
  virtual Status read(uint64_t offset, std::span<uint8_t> out) const = 0;
  // Bytes the image file (and, for qcow2, not its backing files) occupies on the host.
  virtual uint64_t allocatedBytes() const = 0;
  // The qcow2 backing file as written in the header; empty for raw or no backing.
  virtual std::string backingFile() const { return {}; }
};

// Opens an image by content: a qcow2 header makes it qcow2, anything else is raw.
// `path` is used in messages and to resolve a relative qcow2 backing file.
Result<std::unique_ptr<DiskView>> openDiskView(UniqueFd fd, const std::string& path);
Result<std::unique_ptr<DiskView>> openDiskView(const std::string& path);

// The raw implementation; the qcow2 one is openQcow2 in qcow2_reader.h.
Result<std::unique_ptr<DiskView>> openRawDiskView(UniqueFd fd, const std::string& path);

}  // namespace virtscratch::image
