#include "image/resize.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "base/file_io.h"
#include "base/process.h"
#include "base/temp_file.h"
#include "image/guest_copy.h"
#include "image/inspect.h"
#include "image/partition_edit.h"
#include "image/qcow2_header.h"
#include "image/qcow2_reader.h"
#include "image/qcow2_writer.h"
#include "image/size.h"

// Failure safety: the grown image is built as unnamed files next to the original and renamed
// over it only when everything succeeded; an error leaves the original untouched. The one
// exception is a raw image with nothing inside to grow but its length: a single ftruncate,
// which either happens or does not.
//
// A filesystem that is grown here (ext*, swap) and lies in a partition is worked on in a file of
// its own, as the creator makes it: resize2fs truncates a regular file to the filesystem's end,
// which with "FILE?offset=N" on a whole disk would cut off the rest of the disk.

namespace virtscratch::image {
namespace {

std::string describe(uint64_t bytes) {
  return formatSize(bytes) + " (" + std::to_string(bytes) + " bytes)";
}

bool isExtType(std::string_view type) { return type == "ext2" || type == "ext3" || type == "ext4"; }

bool growableOffline(std::string_view type) { return isExtType(type) || type == "swap"; }

// What stays for the guest to do, for the filesystems that are not grown here.
std::string notGrownNote(std::string_view type) {
  std::string t(type);
  if (type == "xfs") {
    return "xfs can only be grown while mounted: run xfs_growfs on its mount point in the guest";
  }
  if (type == "btrfs") {
    return "btrfs can only be grown while mounted: run 'btrfs filesystem resize max' on its "
           "mount point in the guest";
  }
  if (type == "vfat") {
    return "vfat is not grown offline and keeps its size: grow it with fatresize, or copy its "
           "files to a new filesystem";
  }
  return "the " + t + " filesystem is not grown and keeps its size: grow it in the guest";
}

// `fd` holds the filesystem alone, `size` bytes long.
Status growExt(int fd, uint64_t size, const std::string& path) {
  std::string device = procPathOf(fd);
  // resize2fs works only on a freshly checked filesystem; e2fsck -p repairs what is safe.
  VS_ASSIGN_OR_RETURN(ProcessOutput check, runProcess({"e2fsck", "-f", "-p", device}));
  if (check.exitCode > 1) {
    return failed("the filesystem of '" + path +
                  "' has errors that e2fsck -p cannot repair (exit " +
                  std::to_string(check.exitCode) + "): " + check.out + check.err +
                  "; run e2fsck on it, then resize again");
  }
  auto grown = runChecked({"resize2fs", device, std::to_string(size / kKiB) + "K"});
  if (!grown.ok()) {
    return grown.status().withContext("cannot grow the filesystem of '" + path + "'");
  }
  // resize2fs cuts the file after the filesystem's last whole block; the area keeps its size.
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return errnoStatus("resize the area", errno);
  return {};
}

// Swap holds nothing that survives a reboot, so it is simply made again over the grown area,
// with the label, UUID and page size it had. `fd` holds the swap area alone.
Status growSwap(int fd, const FilesystemInfo& fs, uint64_t size, int dirFd) {
  uint64_t pageSize = 0;
  for (uint64_t page : {4096, 8192, 16384, 65536}) {
    char signature[10];
    if (page > size) break;
    VS_RETURN_IF_ERROR(readAll(fd, signature, sizeof signature, page - 10));
    if (std::memcmp(signature, "SWAPSPACE2", 10) == 0) {
      pageSize = page;
      break;
    }
  }
  if (pageSize == 0) {
    return failed("the swap area at offset " + std::to_string(fs.offset) +
                  " has no SWAPSPACE2 signature; it is not grown");
  }
  VS_ASSIGN_OR_RETURN(TempFile area, TempFile::create(dirFd));
  if (ftruncate(area.fd(), static_cast<off_t>(size)) != 0) {
    return errnoStatus("size the new swap area", errno);
  }
  std::vector<std::string> argv = {"mkswap", "-p", std::to_string(pageSize)};
  if (!fs.label.empty()) argv.insert(argv.end(), {"-L", fs.label});
  if (!fs.uuid.empty()) argv.insert(argv.end(), {"-U", fs.uuid});
  argv.push_back(area.path());
  auto made = runChecked(argv);
  if (!made.ok()) return made.status().withContext("cannot make the grown swap area");
  // The header page replaces the old one; the rest of the area is left as it was.
  return copyRange(area.fd(), 0, fd, 0, pageSize);
}

void addNote(ResizeResult& result, const std::string& note) {
  if (note.empty()) return;
  if (!result.note.empty()) result.note += "; ";
  result.note += note;
}

// The replacement keeps the original's permissions and owner; a file that cannot keep its owner
// is not replaced.
Status keepOwnership(const struct stat& original, int fd, const std::string& path) {
  if (fchmod(fd, original.st_mode & 07777) != 0) {
    return errnoStatus("keep the permissions of '" + path + "'", errno);
  }
  struct stat now;
  if (fstat(fd, &now) != 0) return errnoStatus("stat the grown copy of '" + path + "'", errno);
  if ((now.st_uid != original.st_uid || now.st_gid != original.st_gid) &&
      fchown(fd, original.st_uid, original.st_gid) != 0) {
    return errnoStatus("keep the owner of '" + path + "' (run as its owner or as root)", errno);
  }
  return {};
}

struct Location {
  std::string dir;
  std::string name;
};

Location locate(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

Status checkCancelled(ProgressSink* progress) {
  if (progress != nullptr && progress->cancelled()) {
    return {ErrorCode::kCancelled, "interrupted; the image was not changed"};
  }
  return {};
}

// The guest bytes of the original image, copied range by range into raw files.
class OldImage {
 public:
  OldImage(int fd, const DiskView& view) : fd_(fd), view_(&view) {}
  bool raw() const { return view_->format() == ImageFormat::kRaw; }
  uint64_t size() const { return view_->virtualSize(); }

  Status copy(Extent range, int dstFd, uint64_t dstOffset, ProgressSink* progress) const {
    if (range.length == 0) return {};
    if (raw()) return copyDataRange(fd_, range.offset, range.length, dstFd, dstOffset, progress);
    return copyGuestRange(*view_, range, dstFd, dstOffset, progress);
  }
  // All of it into an empty file: a reflink where the host filesystem shares blocks.
  Status copyAll(int dstFd, ProgressSink* progress) const {
    if (raw()) return copyRawFile(fd_, dstFd, size(), progress);
    if (ftruncate(dstFd, static_cast<off_t>(size())) != 0) {
      return errnoStatus("size the working copy", errno);
    }
    return copyGuestBytes(*view_, dstFd, progress);
  }

 private:
  int fd_;
  const DiskView* view_;
};

// What grows with the disk: the partition that ends last, or the whole disk, and what inspect
// found in it.
struct Target {
  bool partitioned = false;
  uint64_t offset = 0;
  uint64_t size = 0;
  const FilesystemInfo* fs = nullptr;
};

Target findTarget(const ImageInfo& info) {
  Target t{info.partitionTable.table != PartitionTable::kNone, 0, info.virtualSize, nullptr};
  int number = 0;
  if (t.partitioned) {
    t.size = 0;
    for (const PartitionInfo& p : info.partitionTable.partitions) {
      if (p.offset + p.size > t.offset + t.size) {
        t = {true, p.offset, p.size, nullptr};
        number = p.number;
      }
    }
  }
  for (const FilesystemInfo& f : info.filesystems) {
    if (f.partition == number && !f.type.empty()) t.fs = &f;
  }
  return t;
}

Status resizeFile(int fd, uint64_t size, const std::string& what) {
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return errnoStatus("give " + what + " its size of " + describe(size), errno);
  }
  return {};
}

Result<ResizeResult> resize(const std::string& path, uint64_t newSize, const OpenOptions& options,
                            ProgressSink* progress) {
  // Read-write, though the original is only read: an image the caller may not change is not
  // replaced behind its permissions.
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return errnoStatus("open '" + path + "' for writing", errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + path + "'", errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("'" + path + "' is not a regular file; give an image file");
  }
  // An encrypted qcow2's header and tables would have to be rewritten around its LUKS header.
  if (auto qcow2 = isQcow2(fd.get()); qcow2.ok() && *qcow2 && options.format != ImageFormat::kRaw) {
    auto header = qcow2::readHeader(fd.get(), static_cast<uint64_t>(st.st_size), path);
    if (header.ok() && header->luks) {
      return invalidArgument("'" + path +
                             "' is an encrypted qcow2 image, which cannot be resized yet; make "
                             "a larger one and copy the data over in the guest");
    }
  }
  UniqueFd viewFd(fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
  if (!viewFd) return errnoStatus("duplicate the descriptor of '" + path + "'", errno);
  VS_ASSIGN_OR_RETURN(std::unique_ptr<DiskView> view, openImage(std::move(viewFd), path, options));
  OldImage old(fd.get(), *view);

  // qcow2 sizes are whole 512-byte sectors; the image is given the size it will really have.
  if (!old.raw() && newSize % 512 != 0 && newSize < UINT64_MAX - 512) {
    newSize = newSize / 512 * 512 + 512;
  }
  ResizeResult result;
  result.oldSize = old.size();
  result.newSize = newSize;
  if (newSize < result.oldSize) {
    return invalidArgument("'" + path + "' is " + describe(result.oldSize) +
                           "; resize only grows images and cannot shrink it to " +
                           describe(newSize));
  }
  if (newSize == result.oldSize) return result;
  if (!view->backingFile().empty()) {
    return invalidArgument("'" + path + "' is a qcow2 overlay on '" + view->backingFile() +
                           "'; resize does not rewrite overlays: grow it with qemu-img resize, "
                           "or flatten it with qemu-img convert first");
  }
  VS_ASSIGN_OR_RETURN(ImageInfo info, inspectImage(path, options));
  if (info.partitionTable.table == PartitionTable::kMbr && newSize > kMbrMaxDiskSize) {
    return invalidArgument("'" + path +
                           "' has an MBR partition table, which cannot describe a "
                           "disk of " +
                           describe(newSize) + "; the limit is " + describe(kMbrMaxDiskSize));
  }
  Target target = findTarget(info);
  bool growFs = target.fs != nullptr && growableOffline(target.fs->type);
  if (old.raw() && !target.partitioned && !growFs) {
    if (ftruncate(fd.get(), static_cast<off_t>(newSize)) != 0) {
      return errnoStatus("grow '" + path + "' to " + describe(newSize), errno);
    }
    if (target.fs != nullptr) addNote(result, notGrownNote(target.fs->type));
    return result;
  }

  Location where = locate(path);
  UniqueFd dirFd(open(where.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirFd) return errnoStatus("open the directory of '" + path + "'", errno);
  VS_ASSIGN_OR_RETURN(TempFile disk, TempFile::create(dirFd.get()));
  std::optional<TempFile> part;  // the last partition, when its filesystem is grown here
  uint64_t partEnd = target.offset + target.size;
  if (target.partitioned && growFs) {
    VS_RETURN_IF_ERROR(resizeFile(disk.fd(), newSize, "the grown disk"));
    VS_RETURN_IF_ERROR(old.copy({0, target.offset}, disk.fd(), 0, progress));
    VS_RETURN_IF_ERROR(old.copy({partEnd, old.size() - partEnd}, disk.fd(), partEnd, progress));
    VS_ASSIGN_OR_RETURN(TempFile p, TempFile::create(dirFd.get()));
    part.emplace(std::move(p));
    VS_RETURN_IF_ERROR(resizeFile(part->fd(), target.size, "the partition"));
    VS_RETURN_IF_ERROR(old.copy({target.offset, target.size}, part->fd(), 0, progress));
  } else {
    VS_RETURN_IF_ERROR(old.copyAll(disk.fd(), progress));
    VS_RETURN_IF_ERROR(resizeFile(disk.fd(), newSize, "the grown disk"));
  }
  VS_RETURN_IF_ERROR(checkCancelled(progress));

  uint64_t areaSize = newSize;  // of the filesystem's area after growing
  bool room = true;
  if (target.partitioned) {
    VS_ASSIGN_OR_RETURN(PartitionGrowth growth, growLastPartition(disk.fd()));
    if (target.size > 0 && growth.offset != target.offset) {
      return failed("libfdisk and libblkid disagree on which partition of '" + path +
                    "' ends last (at offset " + std::to_string(growth.offset) + " or " +
                    std::to_string(target.offset) + "); check the table with sfdisk --verify");
    }
    result.partitionGrown = growth.grown;
    areaSize = growth.size;
    room = growth.grown;
    if (growth.grown) {
      // What lay past the old partition (a GPT's old backup) is now the partition's free space.
      uint64_t stale = std::min(result.oldSize, target.offset + growth.size);
      if (stale > partEnd) VS_RETURN_IF_ERROR(zeroRange(disk.fd(), partEnd, stale - partEnd));
    } else if (!growth.notGrownWhy.empty()) {
      addNote(result, growth.notGrownWhy);
    } else {
      addNote(result,
              "the last partition already ends at the last MiB boundary before the "
              "end; it was not grown");
    }
  }
  if (target.fs != nullptr && room) {
    int areaFd = part ? part->fd() : disk.fd();
    if (part) VS_RETURN_IF_ERROR(resizeFile(areaFd, areaSize, "the grown partition"));
    if (isExtType(target.fs->type)) {
      VS_RETURN_IF_ERROR(growExt(areaFd, areaSize, path));
      result.filesystemGrown = true;
    } else if (target.fs->type == "swap") {
      VS_RETURN_IF_ERROR(growSwap(areaFd, *target.fs, areaSize, dirFd.get()));
      result.filesystemGrown = true;
    } else {
      addNote(result, notGrownNote(target.fs->type));
    }
  }
  VS_RETURN_IF_ERROR(checkCancelled(progress));

  if (old.raw()) {
    if (part) {
      VS_RETURN_IF_ERROR(copyDataRange(part->fd(), 0, areaSize, disk.fd(), target.offset));
    }
    VS_RETURN_IF_ERROR(keepOwnership(st, disk.fd(), path));
    VS_RETURN_IF_ERROR(disk.publish(where.name, true));
    return result;
  }
  VS_ASSIGN_OR_RETURN(std::vector<Extent> extents, dataExtents(disk.fd(), 0, newSize));
  std::vector<SourceExtent> sources;
  sources.reserve(extents.size());
  for (const Extent& e : extents) sources.push_back({e.offset, e.length, disk.fd(), e.offset});
  if (part) {
    VS_ASSIGN_OR_RETURN(std::vector<Extent> inPart, dataExtents(part->fd(), 0, areaSize));
    for (const Extent& e : inPart) {
      sources.push_back({target.offset + e.offset, e.length, part->fd(), e.offset});
    }
    std::sort(sources.begin(), sources.end(), [](const SourceExtent& a, const SourceExtent& b) {
      return a.guestOffset < b.guestOffset;
    });
  }
  Qcow2WriteOptions qcow2;
  qcow2.virtualSize = newSize;
  qcow2.progress = progress;
  VS_ASSIGN_OR_RETURN(TempFile image, TempFile::create(dirFd.get()));
  VS_RETURN_IF_ERROR(writeQcow2(image.fd(), qcow2, sources));
  VS_RETURN_IF_ERROR(checkCancelled(progress));
  VS_RETURN_IF_ERROR(keepOwnership(st, image.fd(), path));
  VS_RETURN_IF_ERROR(image.publish(where.name, true));
  return result;
}

}  // namespace

Result<ResizeResult> resizeImage(const std::string& path, uint64_t newSize,
                                 const OpenOptions& options, ProgressSink* progress) {
  if (path.empty()) return invalidArgument("no image path given");
  auto result = resize(path, newSize, options, progress);
  if (result.ok() || result.status().code() == ErrorCode::kInvalidArgument) return result;
  return result.status().withContext("'" + path + "' was not resized");
}

}  // namespace virtscratch::image
