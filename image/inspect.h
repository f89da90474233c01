// What `virt-scratch info` reports about an image: container format and sizes, partition table,
// and the filesystem (type, label, UUID) on the whole disk or on each partition, found with
// libblkid on the guest's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "image/open_image.h"
#include "image/partition_table.h"
#include "image/spec.h"

namespace virtscratch::image {

struct FilesystemInfo {
  int partition = 0;    // 0: the whole disk
  uint64_t offset = 0;  // bytes from the start of the disk
  std::string type;     // blkid's name: ext4, xfs, btrfs, vfat, swap; empty when none found
  std::string label;
  std::string uuid;
};

struct ImageInfo {
  std::string path;
  ImageFormat format = ImageFormat::kRaw;
  uint64_t virtualSize = 0;
  uint64_t fileSize = 0;        // the image file's length
  uint64_t allocatedBytes = 0;  // host blocks the file occupies
  uint64_t dataBytes = 0;       // guest bytes in data extents (not holes)
  std::string backingFile;
  PartitionTableInfo partitionTable;
  std::vector<FilesystemInfo> filesystems;
};

struct DiskLayout {
  PartitionTableInfo partitionTable;
  std::vector<FilesystemInfo> filesystems;  // as ImageInfo::filesystems
};

// The partition table and filesystems of the guest bytes of `view`. `rawFd`, when not -1, is the
// file of a raw, unencrypted `view`, probed in place; anything else is probed through a sparse
// in-memory copy of the windows probing reads.
Result<DiskLayout> probeLayout(const DiskView& view, int rawFd = -1);

// Opens `path` as `options` say (the CLI: cliOpenOptions(--format)). Memory stays flat however
// fragmented the image is: extents are counted a window at a time.
Result<ImageInfo> inspectImage(const std::string& path, const OpenOptions& options);

}  // namespace virtscratch::image
