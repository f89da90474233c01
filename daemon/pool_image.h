// How the daemon opens the images of its pool for reading: with the format in their record, never
// from content, and with a backing file only where the daemon made one (an overlay on its own
// template), opened through the templates directory with O_NOFOLLOW. The record's virtual size
// is the image's: a view that claims another is refused. Guest-written bytes (a qcow2 header in
// a raw disk naming a host file) are so never interpreted.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/record_file.h"
#include "daemon/templates.h"
#include "image/disk_view.h"
#include "image/spec.h"

namespace virtscratch::daemon {

// What the records say about one pool image, taken on the loop thread for a worker to use.
struct PoolImageSource {
  image::ImageFormat format = image::ImageFormat::kRaw;
  uint64_t virtualSize = 0;
  // The template an overlay is backed by; empty: no backing file is allowed.
  std::string templateName;
  std::string templateFile;  // its file in templatesDir; empty when the cache no longer has it
  std::string templatePath;  // absolute, as the overlay's header names it
  image::ImageFormat templateFormat = image::ImageFormat::kRaw;
  std::shared_ptr<UniqueFd> templatesDir;
  std::string passphrase;  // the key of an encrypted image, to read its guest's plaintext
};

// Loop thread (it reads the template cache).
Result<PoolImageSource> poolImageSource(const StoredRecord& stored, TemplateCache& templates);

// Any thread: opens the image file `fd` (named `path` in messages) as `source` says.
Result<std::unique_ptr<image::DiskView>> openPoolImage(UniqueFd fd, const std::string& path,
                                                       const PoolImageSource& source);

}  // namespace virtscratch::daemon
