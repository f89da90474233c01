// Raw LUKS images, as QEMU's `luks` block driver opens them: the volume's header and key material
// first, the guest's bytes from the payload offset on, each 512-byte sector encrypted with its
// guest sector number as IV (plain64). Only the source extents are written, so the cost is
// proportional to them; every other sector stays a hole, which decrypts to noise in the guest:
// the filesystem must have been made not to read any of it as zeros (MkfsRequest::writeZeros).
#pragma once

#include <cstdint>
#include <span>

#include "base/progress.h"
#include "base/status.h"
#include "image/luks_header.h"
#include "image/qcow2_writer.h"

namespace virtscratch::image {

// Writes the raw LUKS image of `virtualSize` guest bytes into the empty file `fd`. `extents` are
// sorted, do not overlap, and start and end on 512-byte sectors.
Status writeRawLuks(int fd, const LuksVolume& volume, uint64_t virtualSize,
                    std::span<const SourceExtent> extents, ProgressSink* progress);

}  // namespace virtscratch::image
