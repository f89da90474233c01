// One filesystem of an image, read on the host with the filesystem's own tools once the guest
// is off: debugfs and e2fsck for ext*, xfs_db and xfs_repair for xfs, btrfs restore and btrfs
// check for btrfs, mtools and fsck.fat for vfat, blkid for swap. Single-threaded.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tests/support/test_util.h"

namespace virtscratch::test {

class HostFilesystem {
 public:
  // The filesystem `fs` (ext2, ext3, ext4, xfs, btrfs, vfat or swap) of `image` (raw or qcow2;
  // the whole disk, or its one partition when `partitioned`), copied as a sparse file of its own
  // into `workDir`, where the tools write what they need too. Throws std::runtime_error naming
  // the image when qemu-img or sfdisk fails. (Whether there is a table is not guessed: a FAT
  // boot sector looks like an MBR to sfdisk.)
  HostFilesystem(const std::string& image, std::string fs, bool partitioned,
                 const std::string& workDir);
  HostFilesystem(const HostFilesystem&) = delete;
  HostFilesystem& operator=(const HostFilesystem&) = delete;

  // The bytes of the file at absolute `path` in the filesystem; throws std::runtime_error with
  // the tool's message when it cannot be read.
  std::string readFile(const std::string& path) const;
  // The filesystem's read-only check (e2fsck -fn, xfs_repair -n, btrfs check --readonly,
  // fsck.fat -n; for swap, blkid finding TYPE=swap): exit code 0 when clean.
  CommandResult check() const;
  // blkid -p's view of the filesystem: TYPE, UUID, LABEL, ...
  std::map<std::string, std::string> probe() const;
  // The bytes of the device the guest mounts: the partition, or the whole disk.
  uint64_t deviceBytes() const { return bytes_; }

 private:
  std::string readXfsFile(const std::string& path) const;

  std::string fs_;
  std::string workDir_;
  std::string file_;  // the filesystem alone
  uint64_t bytes_ = 0;
};

}  // namespace virtscratch::test
