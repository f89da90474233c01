#include "image/creator.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/file_io.h"
#include "base/temp_file.h"
#include "base/unique_fd.h"
#include "base/utf8.h"
#include "image/filesystem.h"
#include "image/luks_header.h"
#include "image/luks_raw_writer.h"
#include "image/output_path.h"
#include "image/partition_table.h"
#include "image/qcow2_writer.h"

namespace virtscratch::image {
namespace {

// Where the filesystem lives on the disk.
struct Layout {
  uint64_t fsOffset = 0;
  uint64_t fsSize = 0;
};

Status checkContentDir(const std::string& dir) {
  if (dir.empty()) return {};
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return invalidArgument("content directory '" + dir +
                           "' cannot be read: " + std::strerror(errno));
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
                           " filesystem needs at least " + formatSize(minimum) + ", but " + where +
                           " would hold " + formatSize(layout.fsSize) + "; give a larger --size");
  }
  return layout;
}

Status resize(int fd, uint64_t size) {
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) return errnoStatus("set file size", errno);
  return {};
}

// Unnamed files that hold pieces of the image while it is assembled. They are kept until the
// image is published: freeing their blocks (and, on hosts that mount with discard, discarding
// them) would otherwise join the journal commit that the publishing fsync waits for.
struct WorkFiles {
  std::vector<TempFile> onDisk;
  std::vector<UniqueFd> inMemory;
};

// An empty filesystem is a small skeleton (16 MiB for ext4 at 1 TiB) that is copied into the
// image and then thrown away: built in memory, the mkfs tool's fsyncs of it cost nothing. With
// content it can be as large as the content, and xfs always writes its 64 MiB log: those go to
// disk beside the image.
// On raw LUKS the sectors never written decrypt to noise: the filesystem is made to write as
// zeros what it needs to read as zeros (ext's journal is then 1 GiB of data at 1 TiB: on disk).
bool rawLuks(const ImageSpec& spec) {
  return spec.format == ImageFormat::kRaw && spec.encryption == Encryption::kLuks;
}

bool buildInMemory(const ImageSpec& spec, bool writeZeros) {
  return spec.contentDir.empty() && spec.filesystem != Filesystem::kXfs && !writeZeros;
}

MkfsRequest mkfsRequest(const ImageSpec& spec, std::string devicePath, uint64_t size,
                        uint64_t offset, const std::string& scratchDir) {
  return {spec.filesystem, std::move(devicePath), size,      offset, spec.label,
          spec.uuid,       spec.contentDir,       scratchDir};
}

// Makes the filesystem on a new unnamed file of fsSize bytes in the destination directory.
Result<int> makeFilesystemFile(int dirFd, const ImageSpec& spec, const Layout& layout,
                               const std::string& scratchDir, bool writeZeros, WorkFiles& work) {
  int fd = -1;
  if (buildInMemory(spec, writeZeros)) {
    UniqueFd memory(memfd_create("virt-scratch-filesystem", MFD_CLOEXEC));
    if (!memory) return errnoStatus("memfd_create", errno);
    fd = memory.get();
    work.inMemory.push_back(std::move(memory));
  } else {
    VS_ASSIGN_OR_RETURN(TempFile file, TempFile::create(dirFd));
    fd = file.fd();
    work.onDisk.push_back(std::move(file));
  }
  VS_RETURN_IF_ERROR(resize(fd, layout.fsSize));
  MkfsRequest request = mkfsRequest(spec, procPathOf(fd), layout.fsSize, 0, scratchDir);
  request.writeZeros = writeZeros;
  request.deviceFd = fd;
  VS_RETURN_IF_ERROR(makeFilesystem(request));
  return fd;
}

Status preallocateRaw(int fd, const ImageSpec& spec, ProgressSink* progress) {
  switch (spec.preallocation) {
    case Preallocation::kOff:
    case Preallocation::kMetadata:
      return {};
    case Preallocation::kFalloc:
      if (int err = posix_fallocate(fd, 0, static_cast<off_t>(spec.size)); err != 0) {
        return errnoStatus("reserve " + formatSize(spec.size), err);
      }
      return {};
    case Preallocation::kFull:
      return fillHoles(fd, 0, spec.size, progress);
  }
  return {};
}

Status buildRaw(int dirFd, TempFile& image, const ImageSpec& spec, const Layout& layout,
                const std::string& scratchDir, const CreateOptions& create, WorkFiles& work) {
  VS_RETURN_IF_ERROR(resize(image.fd(), spec.size));
  if (spec.partition != PartitionTable::kNone) {
    VS_RETURN_IF_ERROR(writePartitionTable(image.fd(), spec.partition, spec.size, spec.filesystem,
                                           spec.label, {layout.fsOffset, layout.fsSize}));
  }
  if (spec.filesystem == Filesystem::kNone) {
    // Nothing to format.
  } else if (spec.partition == PartitionTable::kNone || filesystemSupportsOffset(spec.filesystem)) {
    // Formatted in place: at the start of the image, or inside its partition.
    MkfsRequest request =
        mkfsRequest(spec, image.path(), layout.fsSize, layout.fsOffset, scratchDir);
    request.writeZeros = create.writeZeros;
    request.deviceFd = image.fd();
    VS_RETURN_IF_ERROR(makeFilesystem(request));
  } else {
    VS_ASSIGN_OR_RETURN(
        int fsFd, makeFilesystemFile(dirFd, spec, layout, scratchDir, create.writeZeros, work));
    VS_ASSIGN_OR_RETURN(auto extents, dataExtents(fsFd, 0, layout.fsSize));
    for (const Extent& e : extents) {
      VS_RETURN_IF_ERROR(
          copyRange(fsFd, e.offset, image.fd(), layout.fsOffset + e.offset, e.length));
    }
  }
  return preallocateRaw(image.fd(), spec, create.progress);
}

void appendExtents(std::vector<SourceExtent>& out, int fd, const std::vector<Extent>& extents,
                   uint64_t guestOffset) {
  for (const Extent& e : extents) out.push_back({guestOffset + e.offset, e.length, fd, e.offset});
}

// The guest's bytes, assembled from up to two unnamed files (the partition table on a sparse
// disk-sized file, the filesystem on a partition-sized file); only their data extents reach the
// qcow2 or raw LUKS writer, so nothing proportional to the virtual size is ever read.
Result<std::vector<SourceExtent>> guestSources(int dirFd, const ImageSpec& spec,
                                               const Layout& layout, const std::string& scratchDir,
                                               WorkFiles& work) {
  std::vector<SourceExtent> sources;
  int tableFd = -1;
  if (spec.partition != PartitionTable::kNone) {
    VS_ASSIGN_OR_RETURN(TempFile t, TempFile::create(dirFd));
    VS_RETURN_IF_ERROR(resize(t.fd(), spec.size));
    VS_RETURN_IF_ERROR(writePartitionTable(t.fd(), spec.partition, spec.size, spec.filesystem,
                                           spec.label, {layout.fsOffset, layout.fsSize}));
    work.onDisk.push_back(std::move(t));
    tableFd = work.onDisk.back().fd();
    // The table lies before and after the partition; the partition itself is the filesystem's.
    VS_ASSIGN_OR_RETURN(auto head, dataExtents(tableFd, 0, layout.fsOffset));
    appendExtents(sources, tableFd, head, 0);
  }
  if (spec.filesystem != Filesystem::kNone) {
    VS_ASSIGN_OR_RETURN(int fsFd,
                        makeFilesystemFile(dirFd, spec, layout, scratchDir, rawLuks(spec), work));
    VS_ASSIGN_OR_RETURN(auto fsData, dataExtents(fsFd, 0, layout.fsSize));
    appendExtents(sources, fsFd, fsData, layout.fsOffset);
  }
  if (tableFd >= 0) {
    uint64_t tail = layout.fsOffset + layout.fsSize;
    VS_ASSIGN_OR_RETURN(auto backup, dataExtents(tableFd, tail, spec.size));
    appendExtents(sources, tableFd, backup, 0);
  }
  return sources;
}

Status buildQcow2(int dirFd, TempFile& image, const ImageSpec& spec, const Layout& layout,
                  const std::string& scratchDir, const CreateOptions& create, WorkFiles& work) {
  VS_ASSIGN_OR_RETURN(std::vector<SourceExtent> sources,
                      guestSources(dirFd, spec, layout, scratchDir, work));
  Qcow2WriteOptions options;
  options.virtualSize = spec.size;
  options.preallocation = spec.preallocation;
  options.progress = create.progress;
  LuksVolume luks;
  if (spec.encryption == Encryption::kLuks) {
    VS_ASSIGN_OR_RETURN(luks, makeLuksVolume(create.passphrase));
    options.luks = &luks;
  }
  Status written = writeQcow2(image.fd(), options, sources);
  std::fill(luks.masterKey.begin(), luks.masterKey.end(), 0);
  return written;
}

Status buildRawLuks(int dirFd, TempFile& image, const ImageSpec& spec, const Layout& layout,
                    const std::string& scratchDir, const CreateOptions& create, WorkFiles& work) {
  VS_ASSIGN_OR_RETURN(std::vector<SourceExtent> sources,
                      guestSources(dirFd, spec, layout, scratchDir, work));
  VS_ASSIGN_OR_RETURN(LuksVolume luks, makeLuksVolume(create.passphrase));
  Status written = writeRawLuks(image.fd(), luks, spec.size, sources, create.progress);
  std::fill(luks.masterKey.begin(), luks.masterKey.end(), 0);
  return written;
}

}  // namespace

Status createImageAt(int dirFd, std::string_view name, const ImageSpec& spec,
                     const CreateOptions& options) {
  VS_RETURN_IF_ERROR(checkFileName(name));
  VS_RETURN_IF_ERROR(validateSpec(spec, options.maxSize));
  VS_RETURN_IF_ERROR(checkContentDir(spec.contentDir));
  if (spec.encryption == Encryption::kLuks) {
    if (options.passphrase.empty()) {
      return invalidArgument("encryption 'luks' needs a key: give a key file with --key-file");
    }
    if (auto bad = firstInvalidUtf8(options.passphrase)) {
      return invalidArgument("the key is not UTF-8 text (byte " + std::to_string(*bad) +
                             "), which QEMU refuses; make one with "
                             "head -c 32 /dev/urandom | base64 -w0 > FILE");
    }
  }
  VS_RETURN_IF_ERROR(checkDestination(dirFd, name, options.force));
  VS_ASSIGN_OR_RETURN(Layout layout, planLayout(spec));

  VS_ASSIGN_OR_RETURN(TempFile image, TempFile::create(dirFd, options.mode));
  std::string scratchDir = procPathOf(dirFd);
  WorkFiles work;
  if (rawLuks(spec)) {
    VS_RETURN_IF_ERROR(buildRawLuks(dirFd, image, spec, layout, scratchDir, options, work));
  } else if (spec.format == ImageFormat::kRaw) {
    VS_RETURN_IF_ERROR(buildRaw(dirFd, image, spec, layout, scratchDir, options, work));
  } else {
    VS_RETURN_IF_ERROR(buildQcow2(dirFd, image, spec, layout, scratchDir, options, work));
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
  return notWritten(status, out.dir.get(), out.name, path);
}

}  // namespace virtscratch::image
