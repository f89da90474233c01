// Turns an ImageSpec into a finished image file: partition table (libfdisk), filesystem (mkfs
// tools on an unnamed temporary file), content, raw or qcow2 container. The image is built
// unnamed in the destination directory and gets its name only when complete, so an error, a
// signal or a crash leaves nothing behind; an existing file is replaced only with `force`.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "base/progress.h"
#include "base/status.h"
#include "image/size.h"
#include "image/spec.h"

namespace virtscratch::image {

struct CreateOptions {
  bool force = false;
  uint64_t maxSize = kDefaultMaxImageSize;
  ProgressSink* progress = nullptr;
  std::optional<mode_t> mode;  // the image file's mode exactly; unset: 0666 less the umask
  // With Encryption::kLuks: the passphrase (any bytes) that opens the image's only key slot.
  std::string passphrase;
  // An unencrypted raw image to be encrypted as raw LUKS later (encryptRawImageAt): its filesystem
  // is made as for raw LUKS (MkfsRequest::writeZeros). Implied by a raw spec with luks.
  bool writeZeros = false;
};

// Creates `name` (a plain file name, no '/') in the directory `dirFd`.
Status createImageAt(int dirFd, std::string_view name, const ImageSpec& spec,
                     const CreateOptions& options);

// Creates the file at `path` (its directory must exist).
Status createImage(const std::string& path, const ImageSpec& spec, const CreateOptions& options);

}  // namespace virtscratch::image
