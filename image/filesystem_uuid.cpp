#include "image/filesystem_uuid.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <vector>

#include "base/file_io.h"
#include "base/process.h"
#include "base/temp_file.h"
#include "image/filesystem_uuid_edits.h"
#include "image/guest_copy.h"

namespace virtscratch::image {
namespace {

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
  std::array<uint8_t, 16> b;
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
    if (parseVfatVolumeId(uuid)) return {};
    return invalidArgument("'" + std::string(uuid) +
                           "' is not a vfat volume id; give 8 hex digits as XXXX-XXXX");
  }
  if (parseUuidText(uuid)) return {};
  return invalidArgument("'" + std::string(uuid) + "' is not a UUID for " + std::string(type) +
                         "; give 32 hex digits as 8-4-4-4-12");
}

Status renewFilesystemUuid(const FilesystemRange& fs, const std::string& uuid, int scratchDirFd) {
  if (!canRenewUuid(fs.type)) {
    return invalidArgument(where(fs) +
                           " cannot get a new UUID: only ext2/3/4, xfs, btrfs, vfat and swap can");
  }
  VS_ASSIGN_OR_RETURN(std::optional<std::vector<ByteEdit>> edits,
                      filesystemUuidEdits(fileReader(fs.fd), fs.offset, fs.size, fs.type, uuid));
  if (edits) return writeEdits(fs.fd, *edits);
  if (isExt(fs.type)) return renewExt(fs, uuid);
  // xfs_admin clears the log, which it refuses to do for a dirty one: the guest must have
  // unmounted cleanly, which is the clone's precondition anyway.
  if (fs.type == "xfs") return renewOnCopy(fs, scratchDirFd, {"xfs_admin", "-U", uuid});
  // -f: btrfstune otherwise asks for a confirmation on the terminal.
  return renewOnCopy(fs, scratchDirFd, {"btrfstune", "-f", "-U", uuid});
}

}  // namespace virtscratch::image
