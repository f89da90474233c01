// A raw image's guest bytes written again as an encrypted image of `format` (a qcow2 with QEMU's
// LUKS, or raw LUKS), under a fresh master key opened by `passphrase`: the daemon's encrypted
// spares are made this way from a plaintext template, in the background, so that an encrypted
// Allocate only renames one. Only the raw image's data extents are read; the cost is proportional
// to them. For raw LUKS the raw image must have been made with CreateOptions::writeZeros. The
// result is built unnamed in `dirFd` and gets `name` only when complete.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "image/spec.h"

namespace virtscratch::image {

Status encryptRawImageAt(int rawFd, uint64_t virtualSize, int dirFd, std::string_view name,
                         ImageFormat format, const std::string& passphrase,
                         std::optional<mode_t> mode);

}  // namespace virtscratch::image
