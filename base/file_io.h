// Positional I/O that finishes what it starts, and the sparse-file primitives the engine is built
// on: finding data extents without reading holes, and copying ranges without filling them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/progress.h"
#include "base/status.h"

namespace virtscratch {

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const Extent&) const = default;
};

// Appends `e` to `out`, ranges in increasing order, merged with the last one when they touch or
// overlap; an empty range is left out.
void appendMerged(std::vector<Extent>& out, Extent e);

// pwrite/pread until all `length` bytes are done. readAll fails at end of file.
Status writeAll(int fd, const void* data, size_t length, uint64_t offset);
Status readAll(int fd, void* data, size_t length, uint64_t offset);

// The data extents of `fd` within [start, end), found with SEEK_DATA/SEEK_HOLE, sorted, merged
// and clipped to the range. On filesystems without hole reporting the whole range is one extent.
Result<std::vector<Extent>> dataExtents(int fd, uint64_t start, uint64_t end);

// Copies `length` bytes from inFd at inOffset to outFd at outOffset, inside the kernel where it
// can: FICLONERANGE when both offsets and the length are block-aligned and the filesystem shares
// blocks (btrfs, xfs), else copy_file_range, else pread/pwrite. The source range should be data;
// holes in it are not preserved (use dataExtents first).
Status copyRange(int inFd, uint64_t inOffset, int outFd, uint64_t outOffset, uint64_t length,
                 ProgressSink* progress = nullptr);

// Writes zeros over every hole of `fd` within [start, end), so that the whole range is data that
// reads as zeros: qemu-img's preallocation=full, and the ranges a filesystem needs to read as
// zeros on a device whose unwritten sectors read as noise (raw LUKS).
Status fillHoles(int fd, uint64_t start, uint64_t end, ProgressSink* progress = nullptr);

// Bytes a file occupies on its filesystem (st_blocks * 512).
Result<uint64_t> allocatedBytes(int fd);

// The path another process can open to reach `fd` of this process: "/proc/<pid>/fd/<fd>".
std::string procPathOf(int fd);

// What kind of file a st_mode is, for messages: "a directory", "a FIFO", "a socket", ...
const char* fileTypeName(mode_t mode);

}  // namespace virtscratch
