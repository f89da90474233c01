#include "image/partition_table.h"

#include <blkid.h>
#include <libfdisk/libfdisk.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "image/filesystem.h"
#include "image/size.h"

namespace virtscratch::image {
namespace {

constexpr uint64_t kSectorSize = 512;
// Partitions start and end on MiB boundaries, as fdisk, parted and systemd-repart place them.
constexpr uint64_t kAlignment = kMiB;
// The GPT backup at the end of the disk: 128 entries of 128 bytes (32 sectors) and the header.
constexpr uint64_t kGptBackupSectors = 33;
// GPT names are 36 UTF-16 code units.
constexpr size_t kGptNameMax = 36;
// The smallest partition worth making: one alignment unit.
constexpr uint64_t kMinPartitionSize = kAlignment;

struct ContextDeleter {
  void operator()(fdisk_context* c) const { fdisk_unref_context(c); }
};
struct PartitionDeleter {
  void operator()(fdisk_partition* p) const { fdisk_unref_partition(p); }
};
// Types from the label's built-in table are static; fdisk_unref_parttype leaves those alone and
// frees only the ones made for unknown codes, so one deleter serves both.
struct ParttypeDeleter {
  void operator()(fdisk_parttype* t) const { fdisk_unref_parttype(t); }
};
struct ProbeDeleter {
  void operator()(blkid_probe p) const { blkid_free_probe(p); }
};
using ContextPtr = std::unique_ptr<fdisk_context, ContextDeleter>;
using PartitionPtr = std::unique_ptr<fdisk_partition, PartitionDeleter>;
using ParttypePtr = std::unique_ptr<fdisk_parttype, ParttypeDeleter>;
using ProbePtr = std::unique_ptr<std::remove_pointer_t<blkid_probe>, ProbeDeleter>;

std::string describeSize(uint64_t bytes) {
  return formatSize(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

std::string_view tableName(PartitionTable table) {
  return table == PartitionTable::kGpt ? "GPT" : "MBR";
}

Status checkTableKind(PartitionTable table, uint64_t diskSize) {
  if (table == PartitionTable::kNone) {
    return invalidArgument("partition table 'none' has no partition to place; ask for mbr or gpt");
  }
  if (table == PartitionTable::kMbr && diskSize > kMbrMaxDiskSize) {
    return invalidArgument("an MBR partition table cannot describe a disk of " +
                           describeSize(diskSize) +
                           ": the limit is 2 TiB; use a GPT table instead");
  }
  return {};
}

// The code point of the UTF-8 sequence at `s[i]` and its length in bytes; length 0 when the
// bytes are malformed, overlong, a surrogate or NUL.
std::pair<uint32_t, size_t> decodeUtf8(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
  if (len == 0 || i + len > s.size() || c == 0) return {0, 0};
  uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
  for (size_t k = 1; k < len; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return {0, 0};
    cp = (cp << 6) | (b & 0x3Fu);
  }
  constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kSmallest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {0, 0};
  return {cp, len};
}

// libfdisk 2.38 converts names to UTF-16 itself, but cuts them at 36 units without a word and
// cannot encode characters beyond U+FFFF, so both are refused here rather than written wrong.
Status validateGptName(std::string_view name) {
  size_t units = 0;
  for (size_t i = 0; i < name.size(); ++units) {
    auto [cp, len] = decodeUtf8(name, i);
    // The name itself is left out of this message: it would not be valid UTF-8 either.
    if (len == 0) {
      return invalidArgument("the GPT partition name (the label) is not valid UTF-8 at byte " +
                             std::to_string(i));
    }
    if (cp > 0xFFFF) {
      return invalidArgument("GPT partition name '" + std::string(name) +
                             "' holds a character beyond U+FFFF, which libfdisk cannot store");
    }
    i += len;
  }
  if (units > kGptNameMax) {
    return invalidArgument("label '" + std::string(name) + "' is " + std::to_string(units) +
                           " characters long, but a GPT partition name holds at most " +
                           std::to_string(kGptNameMax) + "; give a shorter label");
  }
  return {};
}

// libfdisk reports through its "ask" callback. Dialogs are disabled (fdisk_disable_dialogs), so
// any question fails at once with -EINVAL instead of waiting for a terminal: every value is
// given up front and a question would mean a bug here. The callback only keeps the warnings, to
// give libfdisk's own explanation in our error messages; info lines are dropped.
int collectWarnings(fdisk_context*, fdisk_ask* ask, void* data) {
  auto* warnings = static_cast<std::string*>(data);
  int type = fdisk_ask_get_type(ask);
  if (type != FDISK_ASKTYPE_WARN && type != FDISK_ASKTYPE_WARNX) {
    return type == FDISK_ASKTYPE_INFO ? 0 : -EINVAL;
  }
  if (!warnings->empty()) warnings->append("; ");
  const char* message = fdisk_ask_print_get_mesg(ask);
  warnings->append(message != nullptr ? message : "?");
  if (type == FDISK_ASKTYPE_WARN && fdisk_ask_print_get_errno(ask) > 0) {
    warnings->append(": ");
    warnings->append(std::strerror(fdisk_ask_print_get_errno(ask)));
  }
  return 0;
}

Status fdiskError(std::string_view what, int rc, const std::string& warnings) {
  Status status = errnoStatus(what, rc < 0 ? -rc : EINVAL);
  if (warnings.empty()) return status;
  return {status.code(), status.message() + " (libfdisk: " + warnings + ")"};
}

Result<ParttypePtr> partitionType(fdisk_label* label, PartitionTable table, Filesystem fs) {
  fdisk_parttype* type = nullptr;
  if (table == PartitionTable::kGpt) {
    std::string guid(gptPartitionType(fs));
    type = fdisk_label_get_parttype_from_string(label, guid.c_str());
    if (type == nullptr) type = fdisk_new_unknown_parttype(0, guid.c_str());
  } else {
    unsigned code = mbrPartitionType(fs);
    type = fdisk_label_get_parttype_from_code(label, code);
    if (type == nullptr) type = fdisk_new_unknown_parttype(code, nullptr);
  }
  if (type == nullptr) return failed("libfdisk could not make a partition type");
  return ParttypePtr(type);
}

Result<uint64_t> fileSizeOf(int fd) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return errnoStatus("fstat of the disk file", errno);
  return static_cast<uint64_t>(st.st_size);
}

// Regular files must hold the whole disk: libfdisk and libblkid take the device's size from the
// file, and a short file would put the GPT backup in the wrong place or read past the end.
Status checkFileHolds(int fd, uint64_t diskSize) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return errnoStatus("fstat of the disk file", errno);
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) < diskSize) {
    return invalidArgument("the disk file holds " +
                           describeSize(static_cast<uint64_t>(st.st_size)) +
                           ", less than the disk size " + describeSize(diskSize));
  }
  return {};
}

}  // namespace

Result<PartitionPlan> planPartition(PartitionTable table, uint64_t diskSize) {
  VS_RETURN_IF_ERROR(checkTableKind(table, diskSize));
  uint64_t reserved = table == PartitionTable::kGpt ? kGptBackupSectors * kSectorSize : 0;
  uint64_t minimum = kAlignment + kMinPartitionSize + reserved;
  uint64_t usable = diskSize / kSectorSize * kSectorSize;
  if (usable < minimum) {
    return invalidArgument("a disk of " + describeSize(diskSize) + " is too small for a " +
                           std::string(tableName(table)) + " partition table and a partition of " +
                           formatSize(kMinPartitionSize) + ": give at least " +
                           std::to_string(minimum) + " bytes");
  }
  uint64_t end = (usable - reserved) / kAlignment * kAlignment;
  return PartitionPlan{kAlignment, end - kAlignment};
}

Status writePartitionTable(int fd, PartitionTable table, uint64_t diskSize, Filesystem fs,
                           std::string_view label, const PartitionPlan& plan) {
  VS_RETURN_IF_ERROR(checkTableKind(table, diskSize));
  if (plan.offset % kSectorSize != 0 || plan.size % kSectorSize != 0 || plan.size == 0 ||
      plan.offset > diskSize || plan.size > diskSize - plan.offset) {
    return invalidArgument("partition at offset " + std::to_string(plan.offset) + " of " +
                           std::to_string(plan.size) + " bytes does not fit whole sectors of a " +
                           std::to_string(diskSize) + "-byte disk");
  }
  bool gpt = table == PartitionTable::kGpt;
  if (gpt) VS_RETURN_IF_ERROR(validateGptName(label));
  VS_RETURN_IF_ERROR(checkFileHolds(fd, diskSize));
  VS_ASSIGN_OR_RETURN(uint64_t fileSize, fileSizeOf(fd));

  ContextPtr context(fdisk_new_context());
  if (!context) return failed("libfdisk could not make a context (out of memory)");
  fdisk_context* cxt = context.get();
  std::string warnings;
  fdisk_disable_dialogs(cxt, 1);
  fdisk_set_ask(cxt, collectWarnings, &warnings);
  // Regular files have no sector size of their own; guests see 512-byte sectors.
  fdisk_save_user_sector_size(cxt, kSectorSize, kSectorSize);
  // By descriptor, so unnamed (O_TMPFILE) files work; the name only appears in messages. The
  // context does not own the descriptor and leaves it open.
  if (int rc = fdisk_assign_device_by_fd(cxt, fd, "virt-scratch disk", 0); rc != 0) {
    return fdiskError("libfdisk could not open the disk file", rc, warnings);
  }
  if (fdisk_get_nsectors(cxt) != diskSize / kSectorSize) {
    return invalidArgument("the disk file holds " + describeSize(fileSize) +
                           ", not the disk size " + describeSize(diskSize));
  }
  if (int rc = fdisk_create_disklabel(cxt, gpt ? "gpt" : "dos"); rc != 0) {
    return fdiskError("could not create the " + std::string(tableName(table)) + " table", rc,
                      warnings);
  }
  fdisk_label* lb = fdisk_get_label(cxt, nullptr);
  if (lb == nullptr) return failed("libfdisk has no label after creating it");
  VS_ASSIGN_OR_RETURN(ParttypePtr type, partitionType(lb, table, fs));

  PartitionPtr pa(fdisk_new_partition());
  if (!pa) return failed("libfdisk could not make a partition (out of memory)");
  // Explicit number, start and size: nothing left for libfdisk to ask or align. size_explicit
  // keeps libfdisk from moving the end to its own idea of alignment.
  if (fdisk_partition_set_partno(pa.get(), 0) != 0 ||
      fdisk_partition_set_start(pa.get(), plan.offset / kSectorSize) != 0 ||
      fdisk_partition_set_size(pa.get(), plan.size / kSectorSize) != 0 ||
      fdisk_partition_size_explicit(pa.get(), 1) != 0 ||
      fdisk_partition_set_type(pa.get(), type.get()) != 0) {
    return failed("libfdisk refused the partition's number, start, size or type");
  }
  if (gpt && !label.empty()) {
    std::string name(label);
    if (fdisk_partition_set_name(pa.get(), name.c_str()) != 0) {
      return failed("libfdisk refused the partition name '" + name + "'");
    }
  }
  size_t partno = 0;
  if (int rc = fdisk_add_partition(cxt, pa.get(), &partno); rc != 0) {
    return fdiskError("could not add a partition at offset " + std::to_string(plan.offset) +
                          " of " + std::to_string(plan.size) + " bytes",
                      rc, warnings);
  }
  // The promise is this exact partition; check libfdisk did not adjust it.
  fdisk_partition* added = nullptr;
  if (fdisk_get_partition(cxt, partno, &added) != 0 || added == nullptr) {
    return failed("libfdisk lost the partition it just added");
  }
  PartitionPtr addedPtr(added);
  uint64_t start = fdisk_partition_get_start(added) * kSectorSize;
  uint64_t size = fdisk_partition_get_size(added) * kSectorSize;
  if (start != plan.offset || size != plan.size) {
    return failed("libfdisk placed the partition at offset " + std::to_string(start) + " with " +
                  std::to_string(size) + " bytes instead of offset " + std::to_string(plan.offset) +
                  " with " + std::to_string(plan.size));
  }
  if (int rc = fdisk_write_disklabel(cxt); rc != 0) {
    return fdiskError("could not write the " + std::string(tableName(table)) + " table", rc,
                      warnings);
  }
  // No fdisk_deassign_device: it would fsync (and, unless told not to, sync() every disk). The
  // creator makes the finished image durable once, before renaming it into place.
  return {};
}

namespace {

std::string upperCase(const char* s) {
  std::string out = s != nullptr ? s : "";
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string byteHex(int value) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", static_cast<unsigned>(value) & 0xFFu);
  return buf;
}

}  // namespace

Result<PartitionTableInfo> readPartitionTable(int fd, uint64_t diskSize) {
  VS_RETURN_IF_ERROR(checkFileHolds(fd, diskSize));
  ProbePtr probe(blkid_new_probe());
  if (!probe) return failed("libblkid could not make a probe (out of memory)");
  blkid_probe pr = probe.get();
  if (blkid_probe_set_device(pr, fd, 0, static_cast<blkid_loff_t>(diskSize)) != 0) {
    return failed("libblkid could not use the disk file of " + describeSize(diskSize));
  }
  blkid_probe_set_sectorsize(pr, kSectorSize);
  // Tables only: a filesystem on the whole disk is `info`'s business, not a partition table.
  blkid_probe_enable_superblocks(pr, 0);
  blkid_probe_enable_partitions(pr, 1);

  PartitionTableInfo info;
  int rc = blkid_do_safeprobe(pr);
  if (rc == 1) return info;
  if (rc == -2) {
    return failed("the disk holds more than one partition table signature; check it with sfdisk");
  }
  if (rc != 0) return failed("libblkid could not read the partition table");
  const char* pttype = nullptr;
  if (blkid_probe_lookup_value(pr, "PTTYPE", &pttype, nullptr) != 0 || pttype == nullptr) {
    return info;
  }
  std::string kind = pttype;
  // A GPT disk carries a protective MBR (type 0xee); libblkid's dos prober steps aside for it
  // and names the table "gpt". "PMBR" means the protective MBR is there but no GPT header is
  // valid, primary or backup.
  if (kind == "PMBR") {
    return failed(
        "the disk has a protective MBR but no valid GPT header; check it with "
        "sfdisk --verify");
  }
  if (kind != "gpt" && kind != "dos") {
    return failed("the disk holds a '" + kind +
                  "' partition table; virt-scratch reads only gpt and dos (MBR) tables");
  }
  info.table = kind == "gpt" ? PartitionTable::kGpt : PartitionTable::kMbr;

  blkid_partlist list = blkid_probe_get_partitions(pr);
  if (list == nullptr) return failed("libblkid could not list the " + kind + " partitions");
  blkid_parttable top = blkid_partlist_get_table(list);
  if (top != nullptr) {
    const char* id = blkid_parttable_get_id(top);
    info.id = info.table == PartitionTable::kGpt ? upperCase(id)
                                                 : "0x" + std::string(id != nullptr ? id : "");
  }
  int count = blkid_partlist_numof_partitions(list);
  for (int i = 0; i < count; ++i) {
    blkid_partition par = blkid_partlist_get_partition(list, i);
    // Tables nested inside a partition (a BSD label in an MBR slot) are not this disk's table.
    if (par == nullptr || blkid_partition_get_table(par) != top) continue;
    PartitionInfo p;
    p.number = blkid_partition_get_partno(par);
    // libblkid counts partition positions in 512-byte units whatever the sector size.
    p.offset = static_cast<uint64_t>(blkid_partition_get_start(par)) * 512;
    p.size = static_cast<uint64_t>(blkid_partition_get_size(par)) * 512;
    if (info.table == PartitionTable::kGpt) {
      p.type = upperCase(blkid_partition_get_type_string(par));
      const char* name = blkid_partition_get_name(par);
      p.name = name != nullptr ? name : "";
      p.uuid = upperCase(blkid_partition_get_uuid(par));
    } else {
      p.type = byteHex(blkid_partition_get_type(par));
      const char* uuid = blkid_partition_get_uuid(par);
      p.uuid = uuid != nullptr ? uuid : "";
    }
    info.partitions.push_back(std::move(p));
  }
  return info;
}

}  // namespace virtscratch::image
