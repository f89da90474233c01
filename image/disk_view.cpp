#include "image/disk_view.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

namespace virtscratch::image {
namespace {

class RawDiskView final : public DiskView {
 public:
  RawDiskView(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}

  ImageFormat format() const override { return ImageFormat::kRaw; }
  uint64_t virtualSize() const override { return size_; }
  Result<std::vector<Extent>> dataExtents(uint64_t from, uint64_t to) const override {
    return virtscratch::dataExtents(fd_.get(), from, std::min(to, size_));
  }
  Status read(uint64_t offset, std::span<uint8_t> out) const override {
    if (offset > size_ || out.size() > size_ - offset) {
      return invalidArgument("read of " + std::to_string(out.size()) + " bytes at offset " +
                             std::to_string(offset) + " is past the end of the disk (" +
                             std::to_string(size_) + " bytes)");
    }
    return readAll(fd_.get(), out.data(), out.size(), offset);
  }
  uint64_t allocatedBytes() const override {
    auto bytes = virtscratch::allocatedBytes(fd_.get());
    return bytes.ok() ? *bytes : 0;
  }
  Result<std::optional<uint64_t>> plainHostOffset(uint64_t offset, uint64_t length) const override {
    if (offset > size_ || length > size_ - offset) return std::optional<uint64_t>();
    return std::optional<uint64_t>(offset);
  }

 private:
  UniqueFd fd_;
  uint64_t size_;
};

}  // namespace

Status ExtentWalker::fill() {
  extents_.clear();
  at_ = 0;
  const uint64_t size = view_->virtualSize();
  while (extents_.empty() && fetched_ < size) {
    uint64_t to = fetched_ + std::min(window_, size - fetched_);
    VS_ASSIGN_OR_RETURN(extents_, view_->dataExtents(fetched_, to));
    fetched_ = to;
  }
  return {};
}

Result<std::optional<Extent>> ExtentWalker::next() {
  if (at_ >= extents_.size()) VS_RETURN_IF_ERROR(fill());
  if (at_ >= extents_.size()) return std::optional<Extent>();
  Extent e = extents_[at_++];
  // An extent that reaches the window's edge may go on in the next window.
  while (at_ >= extents_.size() && e.end() == fetched_ && fetched_ < view_->virtualSize()) {
    VS_RETURN_IF_ERROR(fill());
    if (extents_.empty() || extents_.front().offset != e.end()) break;
    e.length += extents_.front().length;
    at_ = 1;
  }
  return std::optional<Extent>(e);
}

Result<std::unique_ptr<DiskView>> openRawDiskView(UniqueFd fd, const std::string& path) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("'" + path + "' is not a regular file; give an image file");
  }
  return std::unique_ptr<DiskView>(
      std::make_unique<RawDiskView>(std::move(fd), static_cast<uint64_t>(st.st_size)));
}

}  // namespace virtscratch::image
