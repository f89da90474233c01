#include "image/creator.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "image/file_io.h"
#include "image/filesystem.h"
#include "image/output_path.h"
#include "image/partition_table.h"
#include "image/qcow2_writer.h"
#include "image/temp_file.h"
#include "image/unique_fd.h"

namespace virtscratch::image {
namespace {

// Where the filesystem lives on the disk.
struct Layout {
  uint64_t fsOffset = 0;
  uint64_t fsSize = 0;
};

Status checkName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
    return invalidArgument("'" + std::string(name) + "' is not a file name");
  }
  return {};
}

Status checkContentDir(const std::string& dir) {
  if (dir.empty()) return {};
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return invalidArgument("content directory '" + dir + "' cannot be read: " +
                           std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return invalidArgument("content '" + dir + "' is not a directory");
  }
  return {};
}

Result<Layout> planLayout(const ImageSpec& spec) {
  Layout layout{0, spec.size};
  if (spec.partition != PartitionTable::kNone) {
    VS_ASSIGN_OR_RETURN(PartitionPlan plan, planPartition(spec.partition, spec.size));
    layout = {plan.offset, plan.size};
  }
  uint64_t minimum = minimumFilesystemSize(spec.filesystem);
  if (layout.fsSize < minimum) {
    std::string where = spec.partition == PartitionTable::kNone ? "the disk" : "the partition";
    return invalidArgument("a " + std::string(toString(spec.filesystem)) +
                           " filesystem needs at least " + formatSize(minimum) + ", but " +
                           where + " would hold " + formatSize(layout.fsSize) +
                           "; give a larger --size");
  }
  return layout;
}

Status resize(int fd, uint64_t size) {
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return errnoStatus("set file size", errno);
  return {};
}

// Makes the filesystem on a new unnamed file of fsSize bytes in the destination directory.
Result<TempFile> makeFilesystemFile(int dirFd, const ImageSpec& spec, const Layout& layout,
                                    const std::string& scratchDir) {
  VS_ASSIGN_OR_RETURN(TempFile fsFile, TempFile::create(dirFd));
  VS_RETURN_IF_ERROR(resize(fsFile.fd(), layout.fsSize));
  VS_RETURN_IF_ERROR(makeFilesystem({spec.filesystem, fsFile.path(), layout.fsSize, spec.label,
                                     spec.uuid, spec.contentDir, scratchDir}));
  return fsFile;
}

// Writes zeros over every hole of the file: qemu-img's preallocation=full for raw.
Status fillHoles(int fd, uint64_t size, ProgressSink* progress) {
  VS_ASSIGN_OR_RETURN(std::vector<Extent> data, dataExtents(fd, 0, size));
  std::vector<char> zeros(4 * kMiB, 0);
  uint64_t pos = 0, done = 0;
  data.push_back({size, 0});
  for (const Extent& e : data) {
    while (pos < e.offset) {
      if (progress != nullptr && progress->cancelled()) return {ErrorCode::kCancelled, "cancelled"};
      size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), e.offset - pos));
      VS_RETURN_IF_ERROR(writeAll(fd, zeros.data(), n, pos));
      pos += n;
      done += n;
      if (progress != nullptr) progress->report(done, size);
    }
    pos = std::max(pos, e.end());
  }
  return {};
}

Status preallocateRaw(int fd, const ImageSpec& spec, ProgressSink* progress) {
  switch (spec.preallocation) {
    case Preallocation::kOff:
    case Preallocation::kMetadata: return {};
    case Preallocation::kFalloc:
      if (int err = posix_fallocate(fd, 0, static_cast<off_t>(spec.size)); err != 0) {
        return errnoStatus("reserve " + formatSize(spec.size), err);
      }
      return {};
    case Preallocation::kFull: return fillHoles(fd, spec.size, progress);
  }
  return {};
}

Status buildRaw(int dirFd, TempFile& image, const ImageSpec& spec, const Layout& layout,
                const std::string& scratchDir, ProgressSink* progress) {
  VS_RETURN_IF_ERROR(resize(image.fd(), spec.size));
  if (spec.partition == PartitionTable::kNone) {
    if (spec.filesystem != Filesystem::kNone) {
      VS_RETURN_IF_ERROR(makeFilesystem({spec.filesystem, image.path(), spec.size, spec.label,
                                         spec.uuid, spec.contentDir, scratchDir}));
    }
  } else {
    VS_RETURN_IF_ERROR(writePartitionTable(image.fd(), spec.partition, spec.size,
                                           spec.filesystem, spec.label,
                                           {layout.fsOffset, layout.fsSize}));
    if (spec.filesystem != Filesystem::kNone) {
      VS_ASSIGN_OR_RETURN(TempFile fsFile, makeFilesystemFile(dirFd, spec, layout, scratchDir));
      VS_ASSIGN_OR_RETURN(auto extents, dataExtents(fsFile.fd(), 0, layout.fsSize));
      for (const Extent& e : extents) {
        VS_RETURN_IF_ERROR(
            copyRange(fsFile.fd(), e.offset, image.fd(), layout.fsOffset + e.offset, e.length));
      }
    }
  }
  return preallocateRaw(image.fd(), spec, progress);
}

void appendExtents(std::vector<SourceExtent>& out, int fd, const std::vector<Extent>& extents,
                   uint64_t guestOffset) {
  for (const Extent& e : extents) out.push_back({guestOffset + e.offset, e.length, fd, e.offset});
}

Status buildQcow2(int dirFd, TempFile& image, const ImageSpec& spec, const Layout& layout,
                  const std::string& scratchDir, ProgressSink* progress) {
  // The guest's bytes are assembled from up to two unnamed files (the partition table on a
  // sparse disk-sized file, the filesystem on a partition-sized file); only their data extents
  // reach the qcow2 writer, so nothing proportional to the virtual size is ever read.
  std::vector<SourceExtent> sources;
  std::optional<TempFile> tableFile;
  std::optional<TempFile> fsFile;
  if (spec.partition != PartitionTable::kNone) {
    VS_ASSIGN_OR_RETURN(TempFile t, TempFile::create(dirFd));
    VS_RETURN_IF_ERROR(resize(t.fd(), spec.size));
    VS_RETURN_IF_ERROR(writePartitionTable(t.fd(), spec.partition, spec.size, spec.filesystem,
                                           spec.label, {layout.fsOffset, layout.fsSize}));
    tableFile.emplace(std::move(t));
    // The table lies before and after the partition; the partition itself is the filesystem's.
    VS_ASSIGN_OR_RETURN(auto head, dataExtents(tableFile->fd(), 0, layout.fsOffset));
    appendExtents(sources, tableFile->fd(), head, 0);
  }
  if (spec.filesystem != Filesystem::kNone) {
    VS_ASSIGN_OR_RETURN(TempFile f, makeFilesystemFile(dirFd, spec, layout, scratchDir));
    fsFile.emplace(std::move(f));
    VS_ASSIGN_OR_RETURN(auto fsData, dataExtents(fsFile->fd(), 0, layout.fsSize));
    appendExtents(sources, fsFile->fd(), fsData, layout.fsOffset);
  }
  if (tableFile) {
    uint64_t tail = layout.fsOffset + layout.fsSize;
    VS_ASSIGN_OR_RETURN(auto backup, dataExtents(tableFile->fd(), tail, spec.size));
    for (const Extent& e : backup) sources.push_back({e.offset, e.length, tableFile->fd(), e.offset});
  }
  Qcow2WriteOptions options;
  options.virtualSize = spec.size;
  options.preallocation = spec.preallocation;
  options.progress = progress;
  return writeQcow2(image.fd(), options, sources);
}

std::string directoryPathOf(int dirFd) { return procPathOf(dirFd); }

}  // namespace

Status createImageAt(int dirFd, std::string_view name, const ImageSpec& spec,
                     const CreateOptions& options) {
  VS_RETURN_IF_ERROR(checkName(name));
  VS_RETURN_IF_ERROR(validateSpec(spec, options.maxSize));
  VS_RETURN_IF_ERROR(checkContentDir(spec.contentDir));
  VS_RETURN_IF_ERROR(checkDestination(dirFd, name, options.force));
  VS_ASSIGN_OR_RETURN(Layout layout, planLayout(spec));

  VS_ASSIGN_OR_RETURN(TempFile image, TempFile::create(dirFd));
  std::string scratchDir = directoryPathOf(dirFd);
  if (spec.format == ImageFormat::kRaw) {
    VS_RETURN_IF_ERROR(buildRaw(dirFd, image, spec, layout, scratchDir, options.progress));
  } else {
    VS_RETURN_IF_ERROR(buildQcow2(dirFd, image, spec, layout, scratchDir, options.progress));
  }
  if (options.progress != nullptr && options.progress->cancelled()) {
    return {ErrorCode::kCancelled, "interrupted; nothing was created"};
  }
  return image.publish(name, options.force);
}

Status createImage(const std::string& path, const ImageSpec& spec, const CreateOptions& options) {
  VS_ASSIGN_OR_RETURN(OutputPath out, openOutputPath(path));
  Status status = createImageAt(out.dir.get(), out.name, spec, options);
  if (status.ok() || status.code() == ErrorCode::kAlreadyExists) return status;
  return status.withContext("'" + path + "' was not created");
}

}  // namespace virtscratch::image
