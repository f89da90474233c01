#include "image/partition_edit.h"

#include <libfdisk/libfdisk.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "image/filesystem_uuid.h"
#include "image/size.h"
#include "image/spec.h"

namespace virtscratch::image {
namespace {

constexpr uint64_t kSectorSize = 512;
constexpr uint64_t kAlignment = kMiB;  // partitions end on MiB boundaries, as they were made

struct ContextDeleter {
  void operator()(fdisk_context* c) const { fdisk_unref_context(c); }
};
struct PartitionDeleter {
  void operator()(fdisk_partition* p) const { fdisk_unref_partition(p); }
};
struct TableDeleter {
  void operator()(fdisk_table* t) const { fdisk_unref_table(t); }
};
struct IterDeleter {
  void operator()(fdisk_iter* i) const { fdisk_free_iter(i); }
};
using ContextPtr = std::unique_ptr<fdisk_context, ContextDeleter>;
using PartitionPtr = std::unique_ptr<fdisk_partition, PartitionDeleter>;

// Dialogs are disabled, so a question fails at once instead of waiting for a terminal; warnings
// (such as "the backup GPT table is not on the end of the device", which the write corrects)
// are kept for error messages.
int collectWarnings(fdisk_context*, fdisk_ask* ask, void* data) {
  auto* warnings = static_cast<std::string*>(data);
  int type = fdisk_ask_get_type(ask);
  if (type != FDISK_ASKTYPE_WARN && type != FDISK_ASKTYPE_WARNX) {
    return type == FDISK_ASKTYPE_INFO ? 0 : -EINVAL;
  }
  const char* message = fdisk_ask_print_get_mesg(ask);
  if (!warnings->empty()) warnings->append("; ");
  warnings->append(message != nullptr ? message : "?");
  return 0;
}

// A libfdisk session on the disk file. The context borrows the descriptor and leaves it open;
// no fdisk_deassign_device, which would sync() every disk of the host: the caller makes the
// finished image durable once when it publishes it.
class FdiskSession {
 public:
  static Result<FdiskSession> open(int fd) {
    FdiskSession s;
    s.context_.reset(fdisk_new_context());
    if (!s.context_) return failed("libfdisk could not make a context (out of memory)");
    s.warnings_ = std::make_unique<std::string>();
    fdisk_disable_dialogs(s.cxt(), 1);
    fdisk_set_ask(s.cxt(), collectWarnings, s.warnings_.get());
    // Regular files have no sector size of their own; guests see 512-byte sectors.
    fdisk_save_user_sector_size(s.cxt(), kSectorSize, kSectorSize);
    if (int rc = fdisk_assign_device_by_fd(s.cxt(), fd, "virt-scratch disk", 0); rc != 0) {
      return s.error("libfdisk could not open the disk file", rc);
    }
    if (fdisk_has_label(s.cxt()) == 0) return failed("the disk has no partition table");
    if (!fdisk_is_label(s.cxt(), GPT) && !fdisk_is_label(s.cxt(), DOS)) {
      return failed("the disk's partition table is neither GPT nor MBR");
    }
    return s;
  }

  fdisk_context* cxt() const { return context_.get(); }
  bool gpt() const { return fdisk_is_label(cxt(), GPT) != 0; }

  Status error(const std::string& what, int rc) const {
    Status status = errnoStatus(what, rc < 0 ? -rc : EINVAL);
    if (warnings_->empty()) return status;
    return {status.code(), status.message() + " (libfdisk: " + *warnings_ + ")"};
  }

  Status write() {
    if (int rc = fdisk_write_disklabel(cxt()); rc != 0) {
      return error("could not write the partition table", rc);
    }
    return {};
  }

 private:
  ContextPtr context_;
  std::unique_ptr<std::string> warnings_;  // stable address for the ask callback
};

// The used partitions, containers included, in table order.
template <typename F>
Status forEachPartition(fdisk_context* cxt, F&& visit) {
  fdisk_table* raw = nullptr;
  if (int rc = fdisk_get_partitions(cxt, &raw); rc != 0) {
    return errnoStatus("libfdisk could not list the partitions", rc < 0 ? -rc : EINVAL);
  }
  std::unique_ptr<fdisk_table, TableDeleter> table(raw);
  std::unique_ptr<fdisk_iter, IterDeleter> iter(fdisk_new_iter(FDISK_ITER_FORWARD));
  if (!iter) return failed("libfdisk could not make an iterator (out of memory)");
  fdisk_partition* pa = nullptr;
  while (fdisk_table_next_partition(table.get(), iter.get(), &pa) == 0) {
    VS_RETURN_IF_ERROR(visit(pa));
  }
  return {};
}

}  // namespace

Result<PartitionGrowth> growLastPartition(int fd) {
  VS_ASSIGN_OR_RETURN(FdiskSession session, FdiskSession::open(fd));
  fdisk_context* cxt = session.cxt();
  // Copied out of the table, which frees its partitions when it goes.
  struct Last {
    size_t partno = 0;
    uint64_t start = 0, sectors = 0, end = 0;
    bool container = false;
  };
  std::optional<Last> last;
  VS_RETURN_IF_ERROR(forEachPartition(cxt, [&](fdisk_partition* pa) -> Status {
    if (fdisk_partition_has_end(pa) == 0) return {};
    uint64_t end = fdisk_partition_get_end(pa);
    if (!last || end > last->end) {
      last = Last{fdisk_partition_get_partno(pa), fdisk_partition_get_start(pa),
                  fdisk_partition_get_size(pa), end, fdisk_partition_is_container(pa) != 0};
    }
    return {};
  }));
  PartitionGrowth growth;
  if (last) {
    size_t partno = last->partno;
    uint64_t start = last->start;
    growth.number = static_cast<int>(partno) + 1;
    growth.offset = start * kSectorSize;
    growth.size = last->sectors * kSectorSize;
    // libfdisk already counts the usable area of the grown file (a GPT's last usable sector
    // moves with the backup); an MBR entry cannot end past 2^32 sectors.
    uint64_t usableEnd = (fdisk_get_last_lba(cxt) + 1) * kSectorSize;
    if (!session.gpt()) usableEnd = std::min(usableEnd, kMbrMaxDiskSize);
    uint64_t newEnd = usableEnd / kAlignment * kAlignment;
    if (last->container || (!session.gpt() && partno >= 4)) {
      growth.notGrownWhy = "partition " + std::to_string(growth.number) +
                           " is an extended or logical MBR partition, which is not grown";
    } else if (newEnd > growth.offset + growth.size) {
      uint64_t newSectors = (newEnd - growth.offset) / kSectorSize;
      PartitionPtr change(fdisk_new_partition());
      if (!change) return failed("libfdisk could not make a partition (out of memory)");
      if (fdisk_partition_set_size(change.get(), newSectors) != 0 ||
          fdisk_partition_size_explicit(change.get(), 1) != 0) {
        return failed("libfdisk refused the size of " + std::to_string(newSectors) + " sectors");
      }
      if (int rc = fdisk_set_partition(cxt, partno, change.get()); rc != 0) {
        return session.error("could not grow partition " + std::to_string(growth.number) + " to " +
                                 std::to_string(newSectors) + " sectors",
                             rc);
      }
      fdisk_partition* now = nullptr;
      if (fdisk_get_partition(cxt, partno, &now) != 0 || now == nullptr) {
        return failed("libfdisk lost partition " + std::to_string(growth.number));
      }
      PartitionPtr nowPtr(now);
      if (fdisk_partition_get_start(now) != start || fdisk_partition_get_size(now) != newSectors) {
        return failed("libfdisk moved partition " + std::to_string(growth.number) +
                      " instead of growing it to " + std::to_string(newSectors) + " sectors");
      }
      growth.grown = true;
      growth.size = newSectors * kSectorSize;
    }
  }
  // Written even when no partition grew: a GPT's backup has to move to the new end.
  VS_RETURN_IF_ERROR(session.write());
  return growth;
}

Status renewPartitionIds(int fd) {
  VS_ASSIGN_OR_RETURN(FdiskSession session, FdiskSession::open(fd));
  fdisk_context* cxt = session.cxt();
  std::string diskId;
  if (session.gpt()) {
    diskId = randomFilesystemUuid("gpt");
  } else {
    // The MBR disk id is 32 bits; "XXXX-XXXX" random ids are never zero (zero means "none").
    std::string id = randomFilesystemUuid("vfat");
    diskId = "0x" + id.substr(0, 4) + id.substr(5, 4);
  }
  if (int rc = fdisk_set_disklabel_id_from_string(cxt, diskId.c_str()); rc != 0) {
    return session.error("could not set the disk identifier " + diskId, rc);
  }
  if (session.gpt()) {
    VS_RETURN_IF_ERROR(forEachPartition(cxt, [&](fdisk_partition* pa) -> Status {
      PartitionPtr change(fdisk_new_partition());
      if (!change) return failed("libfdisk could not make a partition (out of memory)");
      std::string uuid = randomFilesystemUuid("gpt");
      size_t partno = fdisk_partition_get_partno(pa);
      if (fdisk_partition_set_uuid(change.get(), uuid.c_str()) != 0) {
        return failed("libfdisk refused the partition GUID " + uuid);
      }
      if (int rc = fdisk_set_partition(cxt, partno, change.get()); rc != 0) {
        return session.error("could not set the GUID of partition " + std::to_string(partno + 1),
                             rc);
      }
      return {};
    }));
  }
  return session.write();
}

}  // namespace virtscratch::image
