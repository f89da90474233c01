#include "image/disk_view.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "image/qcow2_reader.h"

namespace virtscratch::image {
namespace {

class RawDiskView final : public DiskView {
 public:
  RawDiskView(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size) {}

  ImageFormat format() const override { return ImageFormat::kRaw; }
  uint64_t virtualSize() const override { return size_; }
  Result<std::vector<Extent>> dataExtents() const override {
    return image::dataExtents(fd_.get(), 0, size_);
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
    auto bytes = image::allocatedBytes(fd_.get());
    return bytes.ok() ? *bytes : 0;
  }

 private:
  UniqueFd fd_;
  uint64_t size_;
};

}  // namespace

Result<std::unique_ptr<DiskView>> openRawDiskView(UniqueFd fd, const std::string& path) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("'" + path + "' is not a regular file; give an image file");
  }
  return std::unique_ptr<DiskView>(
      std::make_unique<RawDiskView>(std::move(fd), static_cast<uint64_t>(st.st_size)));
}

Result<std::unique_ptr<DiskView>> openDiskView(UniqueFd fd, const std::string& path) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("'" + path + "' is not a regular file; give an image file");
  }
  VS_ASSIGN_OR_RETURN(bool qcow2, isQcow2(fd.get()));
  if (qcow2) return openQcow2(std::move(fd), path);
  return openRawDiskView(std::move(fd), path);
}

Result<std::unique_ptr<DiskView>> openDiskView(const std::string& path) {
  // O_NONBLOCK: a FIFO without a writer would block open() for good; regular files ignore it.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errnoStatus("open '" + path + "'", errno);
  return openDiskView(std::move(fd), path);
}

}  // namespace virtscratch::image
