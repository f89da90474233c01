// Making filesystems with the distribution's own mkfs tools, run with an argument vector (never a
// shell), on a file that a path names. Filling them from a host directory. Nothing here mounts,
// uses loop devices or needs root.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "image/spec.h"

namespace virtscratch::image {

// The label limit of each filesystem, in bytes: ext* 16, xfs 12, vfat 11, swap 15, btrfs 255.
// Rejects labels that are too long (never cut silently), that hold control characters or are not
// valid UTF-8, and any label for Filesystem::kNone.
Status validateLabel(Filesystem fs, std::string_view label);

// An empty uuid means "random". Otherwise ext*, xfs, btrfs and swap take an RFC 4122 UUID
// (8-4-4-4-12 hex digits) and vfat a volume id of 8 hex digits written XXXX-XXXX.
Status validateUuid(Filesystem fs, std::string_view uuid);

// The smallest size, in bytes, that the tool accepts for this filesystem (xfs wants 300 MiB).
uint64_t minimumFilesystemSize(Filesystem fs);

struct MkfsRequest {
  Filesystem filesystem = Filesystem::kExt4;
  // A path the tools can open: a regular file of exactly `size` bytes, usually
  // "/proc/<pid>/fd/<n>" of an unnamed temporary file. It is all zeros (sparse) on entry.
  std::string devicePath;
  uint64_t size = 0;
  // Where the filesystem starts in devicePath, for writing it straight into a partition of a
  // raw disk. Only where filesystemSupportsOffset() says so; 0 otherwise.
  uint64_t offset = 0;
  std::string label;       // validated already; empty: none
  std::string uuid;        // validated already; empty: random
  std::string contentDir;  // empty: none. Files, directories and symlinks are copied in.
  // A directory on the same filesystem as devicePath where helper files (an xfs protofile) may be
  // made; they are removed before makeFilesystem returns.
  std::string scratchDir;
  // The image will be raw LUKS, where sectors never written decrypt to noise: every range the
  // filesystem needs to read as zeros (ext's journal, xfs's log) is written as zeros, and nothing
  // is marked zeroed that was not written (ext's inode tables are then zeroed by the guest's
  // kernel in the background). Needs `deviceFd`, the open devicePath, at offset 0.
  bool writeZeros = false;
  int deviceFd = -1;
};

// True when makeFilesystem can write this filesystem at an offset inside a larger file (ext*,
// with mke2fs -E offset): the partition is then formatted in place, with no copy.
bool filesystemSupportsOffset(Filesystem fs);

// Makes the filesystem and copies the content in, keeping modes, symlinks and times where the
// filesystem can. Errors carry the tool's stderr, and name the content file that could not be
// stored (a symlink on vfat, a file name the xfs protofile cannot express).
Status makeFilesystem(const MkfsRequest& request);

// Partition type for this filesystem: MBR type byte and GPT type GUID.
// Linux filesystem (0x83, 0FC63DAF-8483-4772-8E79-3D69D8477DE4), Linux swap (0x82,
// 0657FD6D-A4AB-43C4-84E5-0933C84B4F4F), Microsoft basic data for vfat (0x0c,
// EBD0A0A2-B9E5-4433-87C0-68B6B72699C7).
uint8_t mbrPartitionType(Filesystem fs);
std::string_view gptPartitionType(Filesystem fs);

}  // namespace virtscratch::image
