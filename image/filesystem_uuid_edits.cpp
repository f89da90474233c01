#include "image/filesystem_uuid_edits.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string>

#include "base/file_io.h"
#include "base/little_endian.h"
#include "image/crc32c.h"
#include "image/filesystem_uuid.h"

namespace virtscratch::image {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex digits with dashes exactly at `dashes`, two digits to a byte.
std::optional<std::vector<uint8_t>> parseHex(std::string_view text,
                                             std::initializer_list<size_t> dashes, size_t length) {
  if (text.size() != length) return std::nullopt;
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = std::find(dashes.begin(), dashes.end(), i) != dashes.end();
    if (dash != (text[i] == '-')) return std::nullopt;
    if (!dash) {
      if (hexValue(text[i]) < 0) return std::nullopt;
      digits.push_back(text[i]);
    }
  }
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(hexValue(digits[i]) * 16 + hexValue(digits[i + 1])));
  }
  return out;
}

using little_endian::load16;
using little_endian::load32;
using little_endian::store32;

std::string where(std::string_view type, uint64_t offset) {
  return "the " + std::string(type) + " filesystem at offset " + std::to_string(offset);
}

using Edits = std::vector<ByteEdit>;
using MaybeEdits = std::optional<Edits>;

ByteEdit editOf(uint64_t offset, const uint8_t* bytes, size_t length) {
  return {offset, std::vector<uint8_t>(bytes, bytes + length)};
}

// --- ext2/3/4: the fields of e2fsprogs' struct ext2_super_block that matter here.
constexpr uint64_t kSuperblockAt = 1024;
constexpr size_t kSuperblockSize = 1024;
constexpr size_t kBlocksCountLo = 0x04, kFirstDataBlock = 0x14, kLogBlockSize = 0x18,
                 kBlocksPerGroup = 0x20, kMagic = 0x38, kState = 0x3A, kRevLevel = 0x4C,
                 kBlockGroupNr = 0x5A, kFeatureCompat = 0x5C, kFeatureIncompat = 0x60,
                 kFeatureRoCompat = 0x64, kUuid = 0x68, kBlocksCountHi = 0x150,
                 kChecksumType = 0x175, kBackupBgs = 0x24C, kChecksum = 0x3FC;
constexpr uint16_t kExtMagic = 0xEF53;
constexpr uint16_t kStateValid = 1, kStateErrors = 2;
constexpr uint32_t kCompatSparseSuper2 = 0x200;
constexpr uint32_t kIncompatRecover = 0x4, kIncompatJournalDev = 0x8, kIncompat64bit = 0x80,
                   kIncompatEaInode = 0x400, kIncompatCsumSeed = 0x2000;
constexpr uint32_t kRoCompatSparseSuper = 0x1, kRoCompatGdtCsum = 0x10,
                   kRoCompatMetadataCsum = 0x400;
constexpr uint8_t kChecksumCrc32c = 1;

using Superblock = std::array<uint8_t, kSuperblockSize>;

uint32_t superblockChecksum(const Superblock& sb) {
  return crc32c(0xFFFFFFFFu, std::span<const uint8_t>(sb.data(), kChecksum));
}

bool isPowerOf(uint64_t n, uint64_t base) {
  while (n > 1 && n % base == 0) n /= base;
  return n == 1;
}

// The groups that hold a backup copy of the superblock (e2fsprogs' ext2fs_bg_has_super).
std::vector<uint64_t> backupGroups(const Superblock& sb, uint64_t groups) {
  std::vector<uint64_t> out;
  if ((load32(&sb[kFeatureCompat]) & kCompatSparseSuper2) != 0) {
    for (size_t i = 0; i < 2; ++i) {
      uint64_t g = load32(&sb[kBackupBgs + 4 * i]);
      if (g != 0 && g < groups && std::find(out.begin(), out.end(), g) == out.end()) {
        out.push_back(g);
      }
    }
    return out;
  }
  bool sparse = (load32(&sb[kFeatureRoCompat]) & kRoCompatSparseSuper) != 0;
  for (uint64_t g = 1; g < groups; ++g) {
    if (!sparse || g == 1 || isPowerOf(g, 3) || isPowerOf(g, 5) || isPowerOf(g, 7)) {
      out.push_back(g);
    }
  }
  return out;
}

// Whether the UUID can be written here, as tune2fs with metadata_csum_seed writes it: false when
// every checksum would change with it, when the filesystem is not clean (a journal to replay
// would bring the old superblock back), or when the superblock is not what a clean one is.
bool uuidIsOneField(const Superblock& sb) {
  uint32_t incompat = load32(&sb[kFeatureIncompat]), roCompat = load32(&sb[kFeatureRoCompat]);
  if (load16(&sb[kMagic]) != kExtMagic || load32(&sb[kRevLevel]) < 1) return false;
  uint16_t state = load16(&sb[kState]);
  if ((state & kStateValid) == 0 || (state & kStateErrors) != 0) return false;
  if ((incompat & (kIncompatRecover | kIncompatJournalDev)) != 0) return false;
  if ((roCompat & kRoCompatGdtCsum) != 0) return false;  // crc16 over the UUID
  bool seeded = (incompat & kIncompatCsumSeed) != 0;
  if ((roCompat & kRoCompatMetadataCsum) != 0) {
    if (!seeded || sb[kChecksumType] != kChecksumCrc32c) return false;
    if (load32(&sb[kChecksum]) != superblockChecksum(sb)) return false;
  }
  return (incompat & kIncompatEaInode) == 0 || seeded;
}

void setUuid(Superblock& sb, const std::array<uint8_t, 16>& uuid) {
  std::copy(uuid.begin(), uuid.end(), sb.begin() + kUuid);
  if ((load32(&sb[kFeatureRoCompat]) & kRoCompatMetadataCsum) != 0) {
    store32(&sb[kChecksum], superblockChecksum(sb));
  }
}

Result<MaybeEdits> extEdits(const ByteReader& read, uint64_t offset, uint64_t size,
                            const std::array<uint8_t, 16>& uuid) {
  if (size < kSuperblockAt + kSuperblockSize) return MaybeEdits();
  Superblock sb;
  VS_RETURN_IF_ERROR(read(offset + kSuperblockAt, sb));
  if (!uuidIsOneField(sb)) return MaybeEdits();
  uint32_t logBlock = load32(&sb[kLogBlockSize]);
  uint64_t perGroup = load32(&sb[kBlocksPerGroup]);
  uint64_t firstData = load32(&sb[kFirstDataBlock]);
  uint64_t blocks = load32(&sb[kBlocksCountLo]);
  if ((load32(&sb[kFeatureIncompat]) & kIncompat64bit) != 0) {
    blocks |= uint64_t{load32(&sb[kBlocksCountHi])} << 32;
  }
  if (logBlock > 6 || perGroup == 0 || blocks <= firstData) return MaybeEdits();
  uint64_t blockSize = uint64_t{1024} << logBlock;
  uint64_t groups = (blocks - firstData + perGroup - 1) / perGroup;

  Edits edits;
  Superblock primary = sb;
  setUuid(primary, uuid);
  edits.push_back(editOf(offset + kSuperblockAt, primary.data(), primary.size()));
  // The copies that tune2fs rewrites too: a backup is rewritten only where one lies (its magic,
  // its group's number and, with checksums, a checksum that matches).
  for (uint64_t g : backupGroups(sb, groups)) {
    uint64_t at = (firstData + g * perGroup) * blockSize;
    if (at + kSuperblockSize > size) break;
    Superblock copy;
    VS_RETURN_IF_ERROR(read(offset + at, copy));
    // e2fsprogs numbers backups past group 65535 as 65535.
    uint16_t number = static_cast<uint16_t>(std::min<uint64_t>(g, 0xFFFF));
    if (load16(&copy[kMagic]) != kExtMagic || load16(&copy[kBlockGroupNr]) != number) continue;
    if ((load32(&copy[kFeatureRoCompat]) & kRoCompatMetadataCsum) != 0 &&
        load32(&copy[kChecksum]) != superblockChecksum(copy)) {
      continue;
    }
    setUuid(copy, uuid);
    edits.push_back(editOf(offset + at, copy.data(), copy.size()));
  }
  return MaybeEdits(std::move(edits));
}

// --- vfat: the 32-bit volume id in the extended boot record (FAT32 keeps it further out).
Result<Edits> vfatEdits(const ByteReader& read, uint64_t offset, uint64_t size, uint32_t id) {
  uint8_t boot[512];
  VS_RETURN_IF_ERROR(read(offset, boot));
  bool fat32 = load16(boot + 22) == 0;  // no 16-bit FAT size
  size_t sigAt = fat32 ? 66 : 38;
  if (boot[sigAt] != 0x29 && boot[sigAt] != 0x28) {
    return failed(where("vfat", offset) +
                  " has no volume id in its boot sector (extended boot signature " +
                  std::to_string(boot[sigAt]) + "); it cannot get a new one");
  }
  uint8_t serial[4];
  store32(serial, id);
  Edits edits{editOf(offset + sigAt + 1, serial, sizeof serial)};
  if (fat32) {
    // fsck.fat compares the boot sector with its backup, so a backup that was a copy stays one.
    uint64_t sectorSize = load16(boot + 11);
    uint64_t backup = load16(boot + 50);
    if (backup != 0 && backup != 0xFFFF && sectorSize >= 512 && (backup + 1) * sectorSize <= size) {
      uint8_t copy[512];
      uint64_t at = offset + backup * sectorSize;
      VS_RETURN_IF_ERROR(read(at, copy));
      if (std::memcmp(copy, boot, 90) == 0) {
        edits.push_back(editOf(at + sigAt + 1, serial, sizeof serial));
      }
    }
  }
  return edits;
}

// --- swap: the v1 header: 1024 boot bytes, then version, last page, bad page count, UUID,
// label; the signature ends the first page, whose size depends on the guest's architecture.
Result<Edits> swapEdits(const ByteReader& read, uint64_t offset, uint64_t size,
                        const std::array<uint8_t, 16>& uuid) {
  constexpr uint64_t kVersionAt = 1024, kUuidAt = 1036;
  for (uint64_t page : {4096, 8192, 16384, 65536}) {
    if (page > size) break;
    uint8_t signature[10];
    VS_RETURN_IF_ERROR(read(offset + page - 10, signature));
    if (std::memcmp(signature, "SWAPSPACE2", 10) != 0) continue;
    uint8_t version[4];
    VS_RETURN_IF_ERROR(read(offset + kVersionAt, version));
    if (load32(version) != 1) {
      return failed(where("swap", offset) + " is swap version " + std::to_string(load32(version)) +
                    ", which has no UUID; only version 1 has");
    }
    return Edits{editOf(offset + kUuidAt, uuid.data(), uuid.size())};
  }
  return failed(where("swap", offset) +
                " has no SWAPSPACE2 signature at a page end; it cannot get a UUID");
}

}  // namespace

std::optional<std::array<uint8_t, 16>> parseUuidText(std::string_view text) {
  auto bytes = parseHex(text, {8, 13, 18, 23}, 36);
  if (!bytes) return std::nullopt;
  std::array<uint8_t, 16> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::optional<uint32_t> parseVfatVolumeId(std::string_view text) {
  auto bytes = parseHex(text, {4}, 9);
  if (!bytes) return std::nullopt;
  uint32_t out = 0;
  for (uint8_t b : *bytes) out = out << 8 | b;
  return out;
}

Status writeEdits(int fd, const std::vector<ByteEdit>& edits) {
  for (const ByteEdit& e : edits) {
    VS_RETURN_IF_ERROR(writeAll(fd, e.bytes.data(), e.bytes.size(), e.offset));
  }
  return {};
}

Result<std::optional<std::vector<ByteEdit>>> filesystemUuidEdits(const ByteReader& read,
                                                                 uint64_t offset, uint64_t size,
                                                                 std::string_view type,
                                                                 std::string_view uuid) {
  VS_RETURN_IF_ERROR(checkFilesystemUuid(type, uuid));
  bool ext = type == "ext2" || type == "ext3" || type == "ext4";
  if (!ext && type != "swap" && type != "vfat") return MaybeEdits();
  if (type == "vfat") {
    VS_ASSIGN_OR_RETURN(Edits edits, vfatEdits(read, offset, size, *parseVfatVolumeId(uuid)));
    return MaybeEdits(std::move(edits));
  }
  std::array<uint8_t, 16> bytes = *parseUuidText(uuid);
  if (ext) return extEdits(read, offset, size, bytes);
  VS_ASSIGN_OR_RETURN(Edits edits, swapEdits(read, offset, size, bytes));
  return MaybeEdits(std::move(edits));
}

}  // namespace virtscratch::image
