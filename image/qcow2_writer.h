// Writes qcow2 (version 3) images directly, from a list of guest extents and the files that hold
// their bytes. Only those extents are read and written: the cost is proportional to the data,
// never to the virtual size, so a 1 TiB image with a fresh filesystem is written in milliseconds.
// The result passes `qemu-img check` and opens in QEMU.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "base/progress.h"
#include "base/status.h"
#include "image/luks_header.h"
#include "image/spec.h"

namespace virtscratch::image {

// `length` guest bytes at `guestOffset` come from `fd` at `sourceOffset`.
struct SourceExtent {
  uint64_t guestOffset = 0;
  uint64_t length = 0;
  int fd = -1;
  uint64_t sourceOffset = 0;
};

struct Qcow2WriteOptions {
  uint64_t virtualSize = 0;
  Preallocation preallocation = Preallocation::kOff;
  // An overlay: guest bytes not in `extents` come from this file (written into the header as
  // given; relative names are relative to the overlay's directory).
  std::string backingFile;
  ImageFormat backingFormat = ImageFormat::kRaw;
  ProgressSink* progress = nullptr;  // bytes of extents copied, of their total
  // Encrypted with QEMU's built-in LUKS (encrypt.format=luks): the volume's header is stored in
  // the image and every data cluster is written encrypted under its master key. Neither a
  // backing file nor preallocation can be combined with it.
  const LuksVolume* luks = nullptr;
};

// Writes a complete image into `outFd`, an empty file. `extents` must be sorted by guestOffset,
// disjoint and inside virtualSize; guest bytes outside them read as zeros (or from the backing
// file). Memory stays bounded (a few MiB) for any size up to 64 TiB, preallocation included.
Status writeQcow2(int outFd, const Qcow2WriteOptions& options,
                  std::span<const SourceExtent> extents);

}  // namespace virtscratch::image
