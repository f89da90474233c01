// New UUIDs for filesystems that lie at a byte range of a raw disk file, so that a clone never
// shares an identity with its source. Where the identity is a few fields (vfat's volume id, the
// swap header's UUID, an ext* superblock whose checksums do not depend on the UUID) they are
// written here (filesystem_uuid_edits.h); otherwise the filesystems' own tools do the work
// (tune2fs, xfs_admin, btrfstune). Tools that cannot address an offset inside a file run on an
// extracted copy of the filesystem's data, and only the bytes they changed are written back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "image/spec.h"

namespace virtscratch::image {

// True for the blkid TYPE names handled here: ext2, ext3, ext4, xfs, btrfs, vfat, swap.
bool canRenewUuid(std::string_view type);

// A random identity in the form the type takes: an RFC 4122 version 4 UUID, or for vfat a
// volume id written XXXX-XXXX.
std::string randomFilesystemUuid(std::string_view type);
// The same for a new image's filesystem; empty for Filesystem::kNone.
std::string randomFilesystemUuid(Filesystem fs);

// Checks `uuid` against the form `type` takes (see randomFilesystemUuid).
Status checkFilesystemUuid(std::string_view type, std::string_view uuid);

struct FilesystemRange {
  int fd = -1;  // the raw disk file, read-write
  uint64_t offset = 0;
  uint64_t size = 0;
  std::string type;  // blkid's TYPE
};

// Gives the filesystem at `fs` the identity `uuid` (checked with checkFilesystemUuid). Extracted
// copies are made as unnamed files in the directory `scratchDirFd`. An ext* filesystem that
// tune2fs refuses to change before a check (mounted since its last fsck) is checked and
// repaired with `e2fsck -f -p` first, as tune2fs asks.
Status renewFilesystemUuid(const FilesystemRange& fs, const std::string& uuid, int scratchDirFd);

}  // namespace virtscratch::image
