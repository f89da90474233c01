// The few bytes that carry a filesystem's identity, rewritten in this process: vfat's volume id
// (and its FAT32 backup boot sector), the swap header's UUID, and an ext2/3/4 superblock's UUID
// in every copy of the superblock, with the superblock's checksum, where no other checksum of the
// filesystem depends on the UUID (no metadata_csum, or metadata_csum with metadata_csum_seed, as
// virt-scratch makes ext4). The edits are worked out from reads of the disk and written by the
// caller, so that one computation serves a raw file, the clusters of a qcow2 image and an
// overlay alike.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/guest_copy.h"

namespace virtscratch::image {

// `bytes` go at `offset` from the start of the disk.
struct ByteEdit {
  uint64_t offset = 0;
  std::vector<uint8_t> bytes;
};

// Writes each edit into the file `fd` at its offset.
Status writeEdits(int fd, const std::vector<ByteEdit>& edits);

// An RFC 4122 UUID written 8-4-4-4-12 in hex, as its 16 bytes; nullopt for anything else.
std::optional<std::array<uint8_t, 16>> parseUuidText(std::string_view text);
// A vfat volume id written XXXX-XXXX, most significant first; nullopt for anything else.
std::optional<uint32_t> parseVfatVolumeId(std::string_view text);

// The edits that give the filesystem of blkid type `type` at [offset, offset + size) of the disk
// that `read` reads the identity `uuid`. nullopt where the filesystem's own tool has to do it:
// xfs and btrfs, an ext* filesystem whose checksums would all change (metadata_csum without
// metadata_csum_seed, uninit_bg), one that needs recovery or a check, or whose superblock's
// checksum does not match. Fails, whatever the type, on a `uuid` it cannot take
// (checkFilesystemUuid), and on a vfat or swap filesystem without the field, naming what is
// missing.
Result<std::optional<std::vector<ByteEdit>>> filesystemUuidEdits(const ByteReader& read,
                                                                 uint64_t offset, uint64_t size,
                                                                 std::string_view type,
                                                                 std::string_view uuid);

}  // namespace virtscratch::image
