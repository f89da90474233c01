// Opening an image file as a DiskView with the format and the backing files its caller vouches
// for. Guest-written bytes are never interpreted: a raw disk whose first sector is a qcow2 header
// is read as raw when the caller says raw, and a qcow2 image reaches a backing file only as the
// caller allows (by default never). Formats come from records or from the user; content is
// probed only when the caller asks for it (the CLI without --format), and then a backing file is
// refused with a message that names it and the option that allows it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/status.h"
#include "base/unique_fd.h"
#include "image/disk_view.h"
#include "image/spec.h"

namespace virtscratch::image {

// A backing file as a qcow2 header names it.
struct BackingRef {
  std::string image;   // the image whose header names it (its path, for messages)
  std::string name;    // as written in the header
  std::string format;  // the header's backing format; empty when none is recorded
};

// Opens the backing file `ref` names and gives its guest bytes; called while the image is opened.
using BackingOpener = std::function<Result<std::unique_ptr<DiskView>>(const BackingRef& ref)>;

enum class BackingPolicy {
  kRefuse,        // any backing file is an error naming it (the default)
  kFollowByName,  // opened by name, relative to the image's directory (the user asked for it)
  kOpener,        // OpenOptions::opener decides
};

struct OpenOptions {
  // The container format. Without one the open fails, unless `probe` allows guessing it from
  // the content: only for the CLI when the user gave no --format, and a probed image that names
  // a backing file is refused whatever `backing` says.
  std::optional<ImageFormat> format;
  bool probe = false;
  BackingPolicy backing = BackingPolicy::kRefuse;
  BackingOpener opener;  // for kOpener
  // The key of an encrypted image: a qcow2 with QEMU's LUKS opens with it, and a raw image given
  // one is read as raw LUKS (QEMU's `luks` driver). An encrypted qcow2 without it is refused,
  // saying so. Backing files are opened without it.
  std::string passphrase;
};

// `path` names the image in messages and is where kFollowByName resolves relative names.
Result<std::unique_ptr<DiskView>> openImage(UniqueFd fd, const std::string& path,
                                            const OpenOptions& options);
// Opens `path` read-only (never blocking on a FIFO) and then as above.
Result<std::unique_ptr<DiskView>> openImage(const std::string& path, const OpenOptions& options);

// The format `ref` records, refused when there is none (formats are never probed) or when it is
// neither raw nor qcow2.
Result<ImageFormat> backingFormatOf(const BackingRef& ref);

// The options for a CLI command given `--format` (nullopt: not given): probe without it; follow
// backing files by name with it, as qemu-img does when the user names the format.
OpenOptions cliOpenOptions(std::optional<ImageFormat> format);

}  // namespace virtscratch::image
