// The guest-visible bytes of an image file, whatever its format: what export, clone, info and the
// qcow2 writer read. Implementations: raw (disk_view.cpp) and qcow2 (qcow2_reader.cpp). Views are
// made by openImage (open_image.h), with a format the caller knows: the content never decides.
// All methods are const and safe to call from several threads at once (they use pread only).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/file_io.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "image/spec.h"

namespace virtscratch::image {

class DiskView {
 public:
  virtual ~DiskView() = default;
  virtual ImageFormat format() const = 0;
  virtual uint64_t virtualSize() const = 0;
  // Guest ranges within [from, to) that may hold non-zero bytes, sorted, disjoint, merged and
  // clipped to the range; everything else reads as zeros. Found from metadata
  // (SEEK_DATA/SEEK_HOLE, qcow2 tables); holes are never read. Memory is bounded by the range,
  // not by the image: walk large images in windows (ExtentWalker).
  virtual Result<std::vector<Extent>> dataExtents(uint64_t from, uint64_t to) const = 0;
  // All of them at once: for small images and tests; the list grows with the fragmentation.
  Result<std::vector<Extent>> dataExtents() const { return dataExtents(0, virtualSize()); }
  // Reads guest bytes [offset, offset + out.size()); fails past virtualSize().
  virtual Status read(uint64_t offset, std::span<uint8_t> out) const = 0;
  // Bytes the image file (and, for qcow2, not its backing files) occupies on the host.
  virtual uint64_t allocatedBytes() const = 0;
  // The qcow2 backing file as written in the header; empty for raw or no backing.
  virtual std::string backingFile() const { return {}; }
  // Where in the image file the guest bytes [offset, offset + length) are stored as they are and
  // only for this disk, so that rewriting them there changes the guest's bytes and nothing else:
  // raw, the same offset; qcow2, inside one allocated, uncompressed, unencrypted cluster whose
  // refcount is one, of a file without internal snapshots that QEMU has not marked dirty or
  // corrupt. nullopt when they are not (a hole, a zero or shared cluster, a range that crosses a
  // cluster's end): the caller takes another way.
  virtual Result<std::optional<uint64_t>> plainHostOffset(uint64_t offset,
                                                          uint64_t length) const = 0;
};

// The data extents of a view in guest order, fetched a window of guest bytes at a time, so that
// memory stays flat however fragmented the image is. Extents that meet at a window's edge are
// given as one. Used by one thread.
class ExtentWalker {
 public:
  static constexpr uint64_t kWindow = uint64_t{256} << 20;

  explicit ExtentWalker(const DiskView& view, uint64_t window = kWindow)
      : view_(&view), window_(window) {}
  // The next extent; nullopt after the last.
  Result<std::optional<Extent>> next();

 private:
  Status fill();

  const DiskView* view_;
  uint64_t window_;
  uint64_t fetched_ = 0;  // guest bytes [0, fetched_) have been asked for
  std::vector<Extent> extents_;
  size_t at_ = 0;
};

// The raw implementation: every byte of the file is a guest byte. Prefer openImage.
Result<std::unique_ptr<DiskView>> openRawDiskView(UniqueFd fd, const std::string& path);

}  // namespace virtscratch::image
