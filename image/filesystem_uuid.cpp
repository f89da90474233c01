#include "image/filesystem_uuid.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "base/file_io.h"
#include "base/process.h"
#include "base/temp_file.h"
#include "image/guest_copy.h"

namespace virtscratch::image {
namespace {

using UuidBytes = std::array<uint8_t, 16>;

bool isExt(std::string_view type) { return type == "ext2" || type == "ext3" || type == "ext4"; }

void randomBytes(void* out, size_t length) {
  auto* p = static_cast<uint8_t*>(out);
  while (length > 0) {
    ssize_t n = getrandom(p, length, 0);
    if (n < 0) continue;  // EINTR; getrandom cannot fail otherwise once the pool is ready
    p += n;
    length -= static_cast<size_t>(n);
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex digits with dashes exactly at `dashes`, two digits to a byte of `out`.
bool parseHex(std::string_view text, std::initializer_list<size_t> dashes, size_t length,
              std::vector<uint8_t>& out) {
  if (text.size() != length) return false;
  std::string digits;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = std::find(dashes.begin(), dashes.end(), i) != dashes.end();
    if (dash != (text[i] == '-')) return false;
    if (!dash) {
      if (hexValue(text[i]) < 0) return false;
      digits.push_back(text[i]);
    }
  }
  out.clear();
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(hexValue(digits[i]) * 16 + hexValue(digits[i + 1])));
  }
  return true;
}

bool parseUuid(std::string_view text, UuidBytes& out) {
  std::vector<uint8_t> bytes;
  if (!parseHex(text, {8, 13, 18, 23}, 36, bytes)) return false;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return true;
}

// "XXXX-XXXX" is how blkid and mkfs.fat write the 32-bit volume id, most significant first.
bool parseVfatId(std::string_view text, uint32_t& out) {
  std::vector<uint8_t> bytes;
  if (!parseHex(text, {4}, 9, bytes)) return false;
  out = 0;
  for (uint8_t b : bytes) out = out << 8 | b;
  return true;
}

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

std::string where(const FilesystemRange& fs) {
  return "the " + fs.type + " filesystem at offset " + std::to_string(fs.offset);
}

Status renewExt(const FilesystemRange& fs, const std::string& uuid) {
  // e2fsprogs open "FILE?offset=N" at that offset, so the disk file is changed in place.
  std::string device = procPathOf(fs.fd);
  if (fs.offset != 0) device += "?offset=" + std::to_string(fs.offset);
  VS_ASSIGN_OR_RETURN(ProcessOutput first, runProcess({"tune2fs", "-U", uuid, device}));
  if (first.exitCode == 0) return {};
  // With metadata checksums tune2fs rewrites every checksum, and does that only on a freshly
  // checked filesystem; a guest that mounted it since mkfs leaves it "not checked".
  VS_ASSIGN_OR_RETURN(ProcessOutput check, runProcess({"e2fsck", "-f", "-p", device}));
  if (check.exitCode > 1) {
    return failed(where(fs) + " needs a check that e2fsck -p could not finish (exit " +
                  std::to_string(check.exitCode) + "): " + check.err + check.out +
                  "; repair the source with e2fsck first");
  }
  auto second = runChecked({"tune2fs", "-U", uuid, device});
  if (!second.ok()) return second.status().withContext("cannot renew the UUID of " + where(fs));
  return {};
}

// Tools without an offset option work on a sparse copy of the filesystem's data; afterwards the
// 4 KiB blocks they changed are copied back, nothing else.
Status renewOnCopy(const FilesystemRange& fs, int scratchDirFd,
                   const std::vector<std::string>& argvBeforePath) {
  VS_ASSIGN_OR_RETURN(TempFile copy, TempFile::create(scratchDirFd));
  if (ftruncate(copy.fd(), static_cast<off_t>(fs.size)) != 0) {
    return errnoStatus("size the copy of " + where(fs), errno);
  }
  VS_ASSIGN_OR_RETURN(auto before, dataExtents(fs.fd, fs.offset, fs.offset + fs.size));
  for (Extent& e : before) e.offset -= fs.offset;
  VS_RETURN_IF_ERROR(copyDataRange(fs.fd, fs.offset, fs.size, copy.fd(), 0));

  std::vector<std::string> argv = argvBeforePath;
  argv.push_back(copy.path());
  auto run = runChecked(argv);
  if (!run.ok()) return run.status().withContext("cannot renew the UUID of " + where(fs));

  VS_ASSIGN_OR_RETURN(auto after, dataExtents(copy.fd(), 0, fs.size));
  constexpr uint64_t kUnit = 4096;
  VS_ASSIGN_OR_RETURN(auto changed,
                      differingChunks(fileReader(copy.fd()), fileReader(fs.fd, fs.offset),
                                      unionOf(before, after), kUnit, fs.size));
  for (const Extent& e : changed) {
    VS_RETURN_IF_ERROR(copyRange(copy.fd(), e.offset, fs.fd, fs.offset + e.offset, e.length));
  }
  return {};
}

Status renewVfat(const FilesystemRange& fs, uint32_t id) {
  uint8_t boot[512];
  VS_RETURN_IF_ERROR(readAll(fs.fd, boot, sizeof boot, fs.offset));
  // FAT32 has no 16-bit FAT size and keeps its extended boot record further out.
  bool fat32 = le16(boot + 22) == 0;
  size_t sigAt = fat32 ? 66 : 38;
  if (boot[sigAt] != 0x29 && boot[sigAt] != 0x28) {
    return failed(where(fs) + " has no volume id in its boot sector (extended boot signature " +
                  std::to_string(boot[sigAt]) + "); it cannot get a new one");
  }
  uint8_t serial[4] = {static_cast<uint8_t>(id), static_cast<uint8_t>(id >> 8),
                       static_cast<uint8_t>(id >> 16), static_cast<uint8_t>(id >> 24)};
  if (fat32) {
    // fsck.fat compares the boot sector with its backup, so a backup that was a copy stays one.
    uint64_t sectorSize = le16(boot + 11);
    uint64_t backup = le16(boot + 50);
    if (backup != 0 && backup != 0xFFFF && sectorSize >= 512 &&
        (backup + 1) * sectorSize <= fs.size) {
      uint8_t copy[512];
      uint64_t at = fs.offset + backup * sectorSize;
      VS_RETURN_IF_ERROR(readAll(fs.fd, copy, sizeof copy, at));
      if (std::memcmp(copy, boot, 90) == 0) {
        VS_RETURN_IF_ERROR(writeAll(fs.fd, serial, sizeof serial, at + sigAt + 1));
      }
    }
  }
  return writeAll(fs.fd, serial, sizeof serial, fs.offset + sigAt + 1);
}

// The v1 swap header: 1024 boot bytes, then version, last page, bad page count, UUID, label;
// the signature ends the first page, whose size depends on the guest's architecture.
Status renewSwap(const FilesystemRange& fs, const UuidBytes& uuid) {
  constexpr uint64_t kVersionAt = 1024, kUuidAt = 1036;
  for (uint64_t page : {4096, 8192, 16384, 65536}) {
    if (page > fs.size) break;
    char signature[10];
    VS_RETURN_IF_ERROR(readAll(fs.fd, signature, sizeof signature, fs.offset + page - 10));
    if (std::memcmp(signature, "SWAPSPACE2", 10) != 0) continue;
    uint8_t version[4];
    VS_RETURN_IF_ERROR(readAll(fs.fd, version, sizeof version, fs.offset + kVersionAt));
    if (le32(version) != 1) {
      return failed(where(fs) + " is swap version " + std::to_string(le32(version)) +
                    ", which has no UUID; only version 1 has");
    }
    return writeAll(fs.fd, uuid.data(), uuid.size(), fs.offset + kUuidAt);
  }
  return failed(where(fs) + " has no SWAPSPACE2 signature at a page end; it cannot get a UUID");
}

}  // namespace

bool canRenewUuid(std::string_view type) {
  return isExt(type) || type == "xfs" || type == "btrfs" || type == "vfat" || type == "swap";
}

std::string randomFilesystemUuid(Filesystem fs) {
  if (fs == Filesystem::kNone) return {};
  return randomFilesystemUuid(toString(fs));
}

std::string randomFilesystemUuid(std::string_view type) {
  char text[40];
  if (type == "vfat") {
    uint32_t id = 0;
    while (id == 0) randomBytes(&id, sizeof id);
    std::snprintf(text, sizeof text, "%04X-%04X", id >> 16, id & 0xFFFFu);
    return text;
  }
  UuidBytes b;
  randomBytes(b.data(), b.size());
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4: random
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return text;
}

Status checkFilesystemUuid(std::string_view type, std::string_view uuid) {
  if (type == "vfat") {
    uint32_t id = 0;
    if (parseVfatId(uuid, id)) return {};
    return invalidArgument("'" + std::string(uuid) +
                           "' is not a vfat volume id; give 8 hex digits as XXXX-XXXX");
  }
  UuidBytes bytes;
  if (parseUuid(uuid, bytes)) return {};
  return invalidArgument("'" + std::string(uuid) + "' is not a UUID for " + std::string(type) +
                         "; give 32 hex digits as 8-4-4-4-12");
}

Status renewFilesystemUuid(const FilesystemRange& fs, const std::string& uuid, int scratchDirFd) {
  if (!canRenewUuid(fs.type)) {
    return invalidArgument(where(fs) +
                           " cannot get a new UUID: only ext2/3/4, xfs, btrfs, vfat and swap can");
  }
  VS_RETURN_IF_ERROR(checkFilesystemUuid(fs.type, uuid));
  if (isExt(fs.type)) return renewExt(fs, uuid);
  // xfs_admin clears the log, which it refuses to do for a dirty one: the guest must have
  // unmounted cleanly, which is the clone's precondition anyway.
  if (fs.type == "xfs") return renewOnCopy(fs, scratchDirFd, {"xfs_admin", "-U", uuid});
  // -f: btrfstune otherwise asks for a confirmation on the terminal.
  if (fs.type == "btrfs") return renewOnCopy(fs, scratchDirFd, {"btrfstune", "-f", "-U", uuid});
  if (fs.type == "vfat") {
    uint32_t id = 0;
    parseVfatId(uuid, id);
    return renewVfat(fs, id);
  }
  UuidBytes bytes;
  parseUuid(uuid, bytes);
  return renewSwap(fs, bytes);
}

}  // namespace virtscratch::image
