// The seam between the daemon's model and the image engine (image/): the few operations the pool
// asks of it. The real one is EngineImageEngine; the Service's unit tests put a fake here so that
// its pool logic (records, sizes, quota, release, recovery) runs without mkfs. Called on worker
// threads, several at once: implementations must be thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "image/clone.h"
#include "image/creator.h"
#include "image/disk_view.h"
#include "image/encrypt_image.h"
#include "image/gzip_export.h"
#include "image/spec.h"

namespace virtscratch::daemon {

class ImageEngine {
 public:
  virtual ~ImageEngine() = default;

  // Makes the image `name` in the directory `dirFd` as `spec` says (mkfs, partitions, content).
  virtual Status create(int dirFd, std::string_view name, const image::ImageSpec& spec,
                        const image::CreateOptions& options) = 0;
  // Clones the image open as `srcFd` (named `srcPath`) to `dstName` in `dstDirFd`: a reflink or
  // data copy, or a qcow2 overlay on it (options.backing), with options.filesystemUuid.
  virtual Status clone(int srcFd, const std::string& srcPath, int dstDirFd,
                       std::string_view dstName, const image::CloneOptions& options) = 0;
  // Writes the guest bytes of `disk` to `outFd` as gzip.
  virtual Status exportGzip(const image::DiskView& disk, int outFd,
                            const image::ExportOptions& options) = 0;
  // Writes the raw image open as `rawFd` (`size` bytes) as `name` in `dirFd`: an image of `format`
  // (qcow2 or raw) encrypted with LUKS under a fresh master key that `passphrase` opens.
  virtual Status encryptRaw(int rawFd, uint64_t size, int dirFd, std::string_view name,
                            image::ImageFormat format, const std::string& passphrase,
                            std::optional<mode_t> mode) = 0;
};

// The engine of image/, as the daemon runs it.
class EngineImageEngine final : public ImageEngine {
 public:
  Status create(int dirFd, std::string_view name, const image::ImageSpec& spec,
                const image::CreateOptions& options) override {
    return image::createImageAt(dirFd, name, spec, options);
  }
  Status clone(int srcFd, const std::string& srcPath, int dstDirFd, std::string_view dstName,
               const image::CloneOptions& options) override {
    return image::cloneImageAt(srcFd, srcPath, dstDirFd, dstName, options);
  }
  Status exportGzip(const image::DiskView& disk, int outFd,
                    const image::ExportOptions& options) override {
    return image::exportGzip(disk, outFd, options);
  }
  Status encryptRaw(int rawFd, uint64_t size, int dirFd, std::string_view name,
                    image::ImageFormat format, const std::string& passphrase,
                    std::optional<mode_t> mode) override {
    return image::encryptRawImageAt(rawFd, size, dirFd, name, format, passphrase, mode);
  }
};

}  // namespace virtscratch::daemon
