#include "image/inspect.h"

#include <blkid.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "base/file_io.h"
#include "image/size.h"

namespace virtscratch::image {
namespace {

struct ProbeDeleter {
  void operator()(blkid_probe p) const { blkid_free_probe(p); }
};
using ProbePtr = std::unique_ptr<std::remove_pointer_t<blkid_probe>, ProbeDeleter>;

// How much of each filesystem's start a qcow2 image contributes to the probe copy: every
// superblock blkid looks for (btrfs's is at 64 KiB) and vfat's root directory on large disks.
constexpr uint64_t kProbeWindow = 64 * kMiB;

// A copy of the guest bytes that probing needs, for images that are not raw: a sparse memfd of
// the virtual size into which chosen windows are copied, data extents only.
class ProbeCopy {
 public:
  static Result<ProbeCopy> create(const DiskView& view) {
    UniqueFd fd(memfd_create("virt-scratch-probe", MFD_CLOEXEC));
    if (!fd) return errnoStatus("memfd_create", errno);
    if (ftruncate(fd.get(), static_cast<off_t>(view.virtualSize())) != 0) {
      return errnoStatus("size probe copy", errno);
    }
    return ProbeCopy(view, std::move(fd));
  }

  int fd() const { return fd_.get(); }

  Status copyWindow(uint64_t start, uint64_t length) {
    uint64_t end = std::min(view_->virtualSize(), start + length);
    VS_ASSIGN_OR_RETURN(std::vector<Extent> extents, view_->dataExtents(start, end));
    std::vector<uint8_t> buf;
    for (const Extent& e : extents) {
      uint64_t from = e.offset, to = e.end();
      for (uint64_t pos = from; pos < to;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(to - pos, 1 * kMiB));
        buf.resize(n);
        VS_RETURN_IF_ERROR(view_->read(pos, buf));
        VS_RETURN_IF_ERROR(writeAll(fd_.get(), buf.data(), n, pos));
        pos += n;
      }
    }
    return {};
  }

 private:
  ProbeCopy(const DiskView& view, UniqueFd fd) : view_(&view), fd_(std::move(fd)) {}
  const DiskView* view_;
  UniqueFd fd_;
};

std::string probeValue(blkid_probe probe, const char* name) {
  const char* value = nullptr;
  size_t length = 0;
  if (blkid_probe_lookup_value(probe, name, &value, &length) != 0 || value == nullptr) return {};
  return std::string(value, strnlen(value, length));
}

Result<FilesystemInfo> probeFilesystem(int fd, int partition, uint64_t offset, uint64_t size) {
  FilesystemInfo info;
  info.partition = partition;
  info.offset = offset;
  ProbePtr probe(blkid_new_probe());
  if (!probe) return failed("blkid_new_probe failed");
  if (blkid_probe_set_device(probe.get(), fd, static_cast<blkid_loff_t>(offset),
                             static_cast<blkid_loff_t>(size)) != 0) {
    return failed("cannot probe the filesystem at offset " + std::to_string(offset));
  }
  blkid_probe_enable_superblocks(probe.get(), 1);
  blkid_probe_set_superblocks_flags(probe.get(),
                                    BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID);
  blkid_probe_enable_partitions(probe.get(), 0);
  if (blkid_do_safeprobe(probe.get()) == 0) {
    info.type = probeValue(probe.get(), "TYPE");
    info.label = probeValue(probe.get(), "LABEL");
    info.uuid = probeValue(probe.get(), "UUID");
  }
  return info;
}

}  // namespace

Result<DiskLayout> probeLayout(const DiskView& view, int rawFd) {
  // Raw images are probed in place; others (and raw LUKS) through a copy of the windows that
  // probing reads.
  DiskLayout layout;
  uint64_t size = view.virtualSize();
  std::optional<ProbeCopy> copy;
  int guestFd = rawFd;
  if (view.format() != ImageFormat::kRaw || rawFd < 0) {
    VS_ASSIGN_OR_RETURN(ProbeCopy c, ProbeCopy::create(view));
    copy.emplace(std::move(c));
    VS_RETURN_IF_ERROR(copy->copyWindow(0, kProbeWindow));
    uint64_t tail = std::min<uint64_t>(size, kMiB);
    VS_RETURN_IF_ERROR(copy->copyWindow(size - tail, tail));
    guestFd = copy->fd();
  }

  VS_ASSIGN_OR_RETURN(layout.partitionTable, readPartitionTable(guestFd, size));
  if (layout.partitionTable.table == PartitionTable::kNone) {
    VS_ASSIGN_OR_RETURN(auto fs, probeFilesystem(guestFd, 0, 0, size));
    if (!fs.type.empty()) layout.filesystems.push_back(std::move(fs));
  } else {
    for (const PartitionInfo& p : layout.partitionTable.partitions) {
      if (p.offset >= size) continue;
      uint64_t length = std::min(p.size, size - p.offset);
      if (copy) VS_RETURN_IF_ERROR(copy->copyWindow(p.offset, std::min(length, kProbeWindow)));
      VS_ASSIGN_OR_RETURN(auto fs, probeFilesystem(guestFd, p.number, p.offset, length));
      layout.filesystems.push_back(std::move(fs));
    }
  }
  return layout;
}

Result<ImageInfo> inspectImage(const std::string& path, const OpenOptions& options) {
  // O_NONBLOCK: a FIFO without a writer would block open() for good; regular files ignore it.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errnoStatus("open '" + path + "'", errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + path + "'", errno);
  UniqueFd probeFd(dup(fd.get()));
  if (!probeFd) return errnoStatus("dup", errno);
  VS_ASSIGN_OR_RETURN(std::unique_ptr<DiskView> view, openImage(std::move(fd), path, options));

  ImageInfo info;
  info.path = path;
  info.format = view->format();
  info.virtualSize = view->virtualSize();
  info.fileSize = static_cast<uint64_t>(st.st_size);
  info.allocatedBytes = view->allocatedBytes();
  info.backingFile = view->backingFile();
  ExtentWalker walker(*view);
  for (;;) {
    VS_ASSIGN_OR_RETURN(std::optional<Extent> e, walker.next());
    if (!e) break;
    info.dataBytes += e->length;
  }

  VS_ASSIGN_OR_RETURN(DiskLayout layout,
                      probeLayout(*view, options.passphrase.empty() ? probeFd.get() : -1));
  info.partitionTable = std::move(layout.partitionTable);
  info.filesystems = std::move(layout.filesystems);
  return info;
}

}  // namespace virtscratch::image
