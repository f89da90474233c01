#include "image/clone.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <vector>

#include "base/file_io.h"
#include "base/temp_file.h"
#include "image/clone_in_place.h"
#include "image/disk_view.h"
#include "image/filesystem_uuid.h"
#include "image/guest_copy.h"
#include "image/inspect.h"
#include "image/output_path.h"
#include "image/partition_edit.h"
#include "image/qcow2_layout.h"
#include "image/qcow2_writer.h"

// Most clones are the source's file with a few bytes rewritten (clone_in_place.h). The others
// are made in two steps. First the source's guest bytes become a raw "work" file in the
// destination directory (a reflink or a copy of the data extents for raw sources, the data read
// through the DiskView for qcow2); the filesystems and the partition table get their new
// identities there, with the tools that know them. Then the work file is the clone (raw), or
// the qcow2 writer makes the clone from its data extents, or, for an overlay, from just the
// clusters in which it differs from the source.

namespace virtscratch::image {
namespace {

// The work file is a raw copy this process made: read as raw, whatever its first bytes say.
OpenOptions rawWorkFile() {
  OpenOptions options;
  options.format = ImageFormat::kRaw;
  return options;
}

Status checkCloneDestination(int srcFd, int dirFd, std::string_view name, bool force) {
  struct stat st, src;
  std::string n(name);
  if (fstatat(dirFd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return errnoStatus("check '" + n + "'", errno);
  }
  if (fstat(srcFd, &src) == 0 && src.st_dev == st.st_dev && src.st_ino == st.st_ino) {
    return invalidArgument("'" + n + "' is the source itself; give the clone another name");
  }
  if (!force) {
    return {ErrorCode::kAlreadyExists,
            "'" + n + "' already exists; choose another name, or replace it with --force"};
  }
  if (!S_ISREG(st.st_mode)) {
    return {ErrorCode::kAlreadyExists,
            "'" + n + "' exists and is not a regular file; it is not replaced even with --force"};
  }
  return {};
}

Status checkCancelled(const CloneOptions& options) {
  if (options.progress != nullptr && options.progress->cancelled()) {
    return {ErrorCode::kCancelled, "interrupted; no clone was made"};
  }
  return {};
}

// The source's guest bytes as a raw file in the destination directory.
Result<TempFile> makeWorkFile(int srcFd, const DiskView& view, int dirFd, ProgressSink* progress,
                              std::optional<mode_t> mode) {
  VS_ASSIGN_OR_RETURN(TempFile work, TempFile::create(dirFd, mode));
  uint64_t size = view.virtualSize();
  if (view.format() == ImageFormat::kRaw) {
    VS_RETURN_IF_ERROR(copyRawFile(srcFd, work.fd(), size, progress));
  } else {
    if (ftruncate(work.fd(), static_cast<off_t>(size)) != 0) {
      return errnoStatus("size the working copy", errno);
    }
    VS_RETURN_IF_ERROR(copyGuestBytes(view, work.fd(), progress));
  }
  return work;
}

// New identities for every filesystem and, with a table, for the disk and its partitions.
Status renewIdentities(TempFile& work, uint64_t size, int dirFd, const CloneOptions& options) {
  VS_ASSIGN_OR_RETURN(ImageInfo info, inspectImage(work.path(), rawWorkFile()));
  std::vector<const FilesystemInfo*> filesystems;
  for (const FilesystemInfo& fs : info.filesystems) {
    if (fs.type.empty()) continue;  // an empty or unformatted partition: nothing to renew
    if (!canRenewUuid(fs.type)) {
      std::string place =
          fs.partition == 0 ? "the disk" : "partition " + std::to_string(fs.partition);
      return invalidArgument(place + " holds a " + fs.type +
                             " filesystem, which clone cannot give a new UUID (it can for "
                             "ext2/3/4, xfs, btrfs, vfat and swap)");
    }
    filesystems.push_back(&fs);
  }
  if (!options.filesystemUuid.empty() && filesystems.size() > 1) {
    return invalidArgument("the image holds " + std::to_string(filesystems.size()) +
                           " filesystems, which cannot all get the UUID '" +
                           options.filesystemUuid + "'; leave the UUID out to make random ones");
  }
  for (const FilesystemInfo* fs : filesystems) {
    uint64_t fsSize = size - fs->offset;
    for (const PartitionInfo& p : info.partitionTable.partitions) {
      if (p.number == fs->partition) fsSize = std::min(p.size, size - p.offset);
    }
    std::string uuid =
        options.filesystemUuid.empty() ? randomFilesystemUuid(fs->type) : options.filesystemUuid;
    VS_RETURN_IF_ERROR(renewFilesystemUuid({work.fd(), fs->offset, fsSize, fs->type}, uuid, dirFd));
    VS_RETURN_IF_ERROR(checkCancelled(options));
  }
  if (info.partitionTable.table != PartitionTable::kNone) {
    VS_RETURN_IF_ERROR(renewPartitionIds(work.fd()));
  }
  return {};
}

std::vector<SourceExtent> sourcesFrom(int fd, const std::vector<Extent>& extents) {
  std::vector<SourceExtent> sources;
  sources.reserve(extents.size());
  for (const Extent& e : extents) sources.push_back({e.offset, e.length, fd, e.offset});
  return sources;
}

Status cloneInto(int srcFd, const std::string& srcPath, int dstDirFd, std::string_view dstName,
                 const CloneOptions& options) {
  UniqueFd viewFd(fcntl(srcFd, F_DUPFD_CLOEXEC, 0));
  if (!viewFd) return errnoStatus("duplicate the descriptor of '" + srcPath + "'", errno);
  VS_ASSIGN_OR_RETURN(std::unique_ptr<DiskView> view,
                      openImage(std::move(viewFd), srcPath, options.source));
  uint64_t size = view->virtualSize();
  if (size == 0) return invalidArgument("'" + srcPath + "' is empty; it is not a disk image");

  VS_ASSIGN_OR_RETURN(std::optional<TempFile> quick,
                      cloneInPlace(srcFd, *view, srcPath, dstDirFd, options));
  if (quick) {
    VS_RETURN_IF_ERROR(checkCancelled(options));
    return quick->publish(dstName, options.force);
  }
  VS_ASSIGN_OR_RETURN(TempFile work,
                      makeWorkFile(srcFd, *view, dstDirFd, options.progress, options.mode));
  VS_RETURN_IF_ERROR(checkCancelled(options));
  VS_RETURN_IF_ERROR(renewIdentities(work, size, dstDirFd, options));

  if (!options.backing && view->format() == ImageFormat::kRaw) {
    return work.publish(dstName, options.force);
  }
  VS_ASSIGN_OR_RETURN(std::vector<Extent> extents, dataExtents(work.fd(), 0, size));
  Qcow2WriteOptions qcow2;
  qcow2.virtualSize = size;
  qcow2.progress = options.progress;
  if (options.backing) {
    // An overlay holds whole clusters: a partly written one would hide the rest of the backing
    // file's cluster. The work file has every byte, so the clusters are copied from it whole.
    VS_ASSIGN_OR_RETURN(std::vector<Extent> sourceExtents, view->dataExtents());
    VS_ASSIGN_OR_RETURN(
        extents, differingChunks(fileReader(work.fd()), viewReader(*view),
                                 unionOf(extents, sourceExtents), qcow2::kWriterClusterSize, size));
    qcow2.backingFile = srcPath;
    qcow2.backingFormat = view->format();
  }
  VS_ASSIGN_OR_RETURN(TempFile clone, TempFile::create(dstDirFd, options.mode));
  std::vector<SourceExtent> sources = sourcesFrom(work.fd(), extents);
  VS_RETURN_IF_ERROR(writeQcow2(clone.fd(), qcow2, sources));
  VS_RETURN_IF_ERROR(checkCancelled(options));
  return clone.publish(dstName, options.force);
}

// The name an overlay records for its backing file: absolute, so that it does not depend on the
// directory the command ran in (a relative name would be read relative to the overlay's).
Result<std::string> backingNameOf(const std::string& srcPath) {
  std::unique_ptr<char, decltype(&std::free)> real(realpath(srcPath.c_str(), nullptr), &std::free);
  if (!real) return errnoStatus("resolve '" + srcPath + "'", errno);
  return std::string(real.get());
}

}  // namespace

Status cloneImageAt(int srcFd, const std::string& srcPath, int dstDirFd, std::string_view dstName,
                    const CloneOptions& options) {
  VS_RETURN_IF_ERROR(checkFileName(dstName));
  VS_RETURN_IF_ERROR(checkCloneDestination(srcFd, dstDirFd, dstName, options.force));
  Status status = cloneInto(srcFd, srcPath, dstDirFd, dstName, options);
  if (status.ok() || status.code() == ErrorCode::kAlreadyExists) return status;
  return status.withContext("cannot clone '" + srcPath + "' to '" + std::string(dstName) + "'");
}

Status cloneImage(const std::string& srcPath, const std::string& dstPath,
                  const CloneOptions& options) {
  if (srcPath.empty()) return invalidArgument("no source image given");
  if (dstPath.empty()) return invalidArgument("no destination given");
  if (dstPath.back() == '/') {
    return invalidArgument("'" + dstPath + "' names a directory; give the clone's file name");
  }
  // O_NONBLOCK: a FIFO without a writer would block open() for good; regular files ignore it.
  UniqueFd srcFd(open(srcPath.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!srcFd) return errnoStatus("cannot open the source image '" + srcPath + "'", errno);
  struct stat st;
  if (fstat(srcFd.get(), &st) != 0) return errnoStatus("stat '" + srcPath + "'", errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("'" + srcPath + "' is not a regular file; give an image file");
  }
  size_t slash = dstPath.rfind('/');
  std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : dstPath.substr(0, slash));
  std::string name = slash == std::string::npos ? dstPath : dstPath.substr(slash + 1);
  UniqueFd dirFd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirFd) return errnoStatus("cannot open the directory '" + dir + "' for the clone", errno);
  std::string srcName = srcPath;
  if (options.backing) {
    VS_ASSIGN_OR_RETURN(srcName, backingNameOf(srcPath));
  }
  return cloneImageAt(srcFd.get(), srcName, dirFd.get(), name, options);
}

}  // namespace virtscratch::image
