// Moving guest bytes between images and raw files without reading holes: a whole-file reflink
// or a copy of the data extents, the guest bytes of any DiskView into a raw file, and finding
// the chunks in which two versions of a disk differ (what an overlay has to hold).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/file_io.h"
#include "base/progress.h"
#include "base/status.h"
#include "image/disk_view.h"

namespace virtscratch::image {

// Makes `dstFd` (an empty file) a copy of the first `size` bytes of the raw file `srcFd`, sized
// `size`: one FICLONE where the host filesystem shares blocks (btrfs, xfs with reflink), else
// copyRange of each data extent. Holes stay holes and are never read.
Status copyRawFile(int srcFd, int dstFd, uint64_t size, ProgressSink* progress);

// Copies the data extents of [offset, offset + length) of `srcFd` to `dstFd` at `dstOffset`.
Status copyDataRange(int srcFd, uint64_t offset, uint64_t length, int dstFd, uint64_t dstOffset,
                     ProgressSink* progress = nullptr);

// Writes the guest bytes of `view` (its data extents only) into the raw file `dstFd` at the same
// offsets. `dstFd` must read as zeros where the guest has holes.
Status copyGuestBytes(const DiskView& view, int dstFd, ProgressSink* progress);

// The same for the guest bytes in [range.offset, range.end()), written at `dstOffset`.
Status copyGuestRange(const DiskView& view, Extent range, int dstFd, uint64_t dstOffset,
                      ProgressSink* progress);

// Makes [offset, offset + length) of `fd` read as zeros, as a hole where the filesystem can.
Status zeroRange(int fd, uint64_t offset, uint64_t length);

// Reads `out.size()` bytes at `offset` of one version of a disk.
using ByteReader = std::function<Status(uint64_t offset, std::span<uint8_t> out)>;

// A ByteReader over a plain file (holes read as zeros).
ByteReader fileReader(int fd, uint64_t base = 0);
// A ByteReader over the guest bytes of `view`, which must outlive it.
ByteReader viewReader(const DiskView& view);

// The chunks of `unit` bytes (aligned to multiples of `unit` from offset 0, the last one clipped
// at `limit`) that touch `regions` and hold different bytes in `a` and `b`; sorted and merged.
// Only the chunks of `regions` are read, so pass the union of both sides' data extents.
Result<std::vector<Extent>> differingChunks(const ByteReader& a, const ByteReader& b,
                                            const std::vector<Extent>& regions, uint64_t unit,
                                            uint64_t limit, ProgressSink* progress = nullptr);

// The sorted, merged union of two extent lists.
std::vector<Extent> unionOf(std::vector<Extent> a, const std::vector<Extent>& b);

}  // namespace virtscratch::image
