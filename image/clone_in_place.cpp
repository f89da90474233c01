#include "image/clone_in_place.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "base/file_io.h"
#include "image/filesystem_uuid.h"
#include "image/filesystem_uuid_edits.h"
#include "image/guest_copy.h"
#include "image/inspect.h"
#include "image/partition_id_edits.h"
#include "image/qcow2_layout.h"
#include "image/qcow2_writer.h"

namespace virtscratch::image {
namespace {

using Edits = std::vector<ByteEdit>;
using MaybeEdits = std::optional<Edits>;

// The edits that renew the partition table's identifiers and every filesystem of the source, in
// guest offsets; nullopt when one of them is not a few fields this process rewrites.
Result<MaybeEdits> identityEdits(int srcFd, const DiskView& view, const CloneOptions& options) {
  VS_ASSIGN_OR_RETURN(DiskLayout layout,
                      probeLayout(view, view.format() == ImageFormat::kRaw ? srcFd : -1));
  ByteReader read = viewReader(view);
  const uint64_t size = view.virtualSize();
  Edits edits;
  if (layout.partitionTable.table != PartitionTable::kNone) {
    VS_ASSIGN_OR_RETURN(MaybeEdits table,
                        partitionIdEdits(read, size, layout.partitionTable.table));
    if (!table) return MaybeEdits();
    edits = std::move(*table);
  }
  size_t named = 0;
  for (const FilesystemInfo& fs : layout.filesystems) named += fs.type.empty() ? 0 : 1;
  // One UUID asked for and several filesystems: the general way says why not.
  if (!options.filesystemUuid.empty() && named > 1) return MaybeEdits();
  for (const FilesystemInfo& fs : layout.filesystems) {
    if (fs.type.empty()) continue;
    if (!canRenewUuid(fs.type)) return MaybeEdits();  // the general way says why not
    uint64_t fsSize = size - fs.offset;
    for (const PartitionInfo& p : layout.partitionTable.partitions) {
      if (p.number == fs.partition) fsSize = std::min(p.size, size - p.offset);
    }
    std::string uuid =
        options.filesystemUuid.empty() ? randomFilesystemUuid(fs.type) : options.filesystemUuid;
    VS_ASSIGN_OR_RETURN(MaybeEdits mine,
                        filesystemUuidEdits(read, fs.offset, fsSize, fs.type, uuid));
    if (!mine) return MaybeEdits();
    edits.insert(edits.end(), mine->begin(), mine->end());
  }
  return MaybeEdits(std::move(edits));
}

// The same edits at the offsets of the source file where their bytes are stored, split where
// needed at 512-byte boundaries (no cluster is smaller); nullopt when a byte is not stored there
// plainly, so that writing it would not change the guest's byte alone.
Result<MaybeEdits> placedInFile(const DiskView& view, const Edits& edits) {
  constexpr uint64_t kSector = 512;
  Edits placed;
  for (const ByteEdit& e : edits) {
    VS_ASSIGN_OR_RETURN(std::optional<uint64_t> host,
                        view.plainHostOffset(e.offset, e.bytes.size()));
    if (host) {
      placed.push_back({*host, e.bytes});
      continue;
    }
    for (uint64_t done = 0; done < e.bytes.size();) {
      uint64_t at = e.offset + done;
      uint64_t length = std::min<uint64_t>(e.bytes.size() - done, kSector - at % kSector);
      VS_ASSIGN_OR_RETURN(host, view.plainHostOffset(at, length));
      if (!host) return MaybeEdits();
      auto from = e.bytes.begin() + static_cast<ptrdiff_t>(done);
      placed.push_back({*host, std::vector<uint8_t>(from, from + static_cast<ptrdiff_t>(length))});
      done += length;
    }
  }
  return MaybeEdits(std::move(placed));
}

// A copy of the source file with the edits written where it stores their bytes.
Result<std::optional<TempFile>> copyEdited(int srcFd, const DiskView& view, int dstDirFd,
                                           const Edits& edits, const CloneOptions& options) {
  VS_ASSIGN_OR_RETURN(MaybeEdits placed, placedInFile(view, edits));
  if (!placed) return std::optional<TempFile>();
  struct stat st;
  if (fstat(srcFd, &st) != 0) return errnoStatus("stat the source", errno);
  VS_ASSIGN_OR_RETURN(TempFile clone, TempFile::create(dstDirFd, options.mode));
  VS_RETURN_IF_ERROR(
      copyRawFile(srcFd, clone.fd(), static_cast<uint64_t>(st.st_size), options.progress));
  VS_RETURN_IF_ERROR(writeEdits(clone.fd(), *placed));
  return std::optional<TempFile>(std::move(clone));
}

// A qcow2 overlay on the source holding the whole clusters the edits fall in: their guest bytes
// are gathered in a sparse scratch file, edited there, and those that now differ are written.
Result<TempFile> overlayOfEdits(const DiskView& view, const std::string& srcPath, int dstDirFd,
                                const Edits& edits, const CloneOptions& options) {
  const uint64_t size = view.virtualSize(), cluster = qcow2::kWriterClusterSize;
  std::vector<Extent> touched;
  Edits sorted = edits;
  std::sort(sorted.begin(), sorted.end(),
            [](const ByteEdit& a, const ByteEdit& b) { return a.offset < b.offset; });
  for (const ByteEdit& e : sorted) {
    uint64_t start = e.offset / cluster * cluster;
    uint64_t end = std::min(size, (e.offset + e.bytes.size() + cluster - 1) / cluster * cluster);
    appendMerged(touched, {start, end - start});
  }
  VS_ASSIGN_OR_RETURN(TempFile scratch, TempFile::create(dstDirFd));
  if (ftruncate(scratch.fd(), static_cast<off_t>(size)) != 0) {
    return errnoStatus("size the overlay's scratch file", errno);
  }
  for (const Extent& e : touched) {
    VS_RETURN_IF_ERROR(copyGuestRange(view, e, scratch.fd(), e.offset, nullptr));
  }
  VS_RETURN_IF_ERROR(writeEdits(scratch.fd(), sorted));
  VS_ASSIGN_OR_RETURN(
      std::vector<Extent> differing,
      differingChunks(fileReader(scratch.fd()), viewReader(view), touched, cluster, size));

  Qcow2WriteOptions qcow2;
  qcow2.virtualSize = size;
  qcow2.progress = options.progress;
  qcow2.backingFile = srcPath;
  qcow2.backingFormat = view.format();
  std::vector<SourceExtent> sources;
  for (const Extent& e : differing) sources.push_back({e.offset, e.length, scratch.fd(), e.offset});
  VS_ASSIGN_OR_RETURN(TempFile clone, TempFile::create(dstDirFd, options.mode));
  VS_RETURN_IF_ERROR(writeQcow2(clone.fd(), qcow2, sources));
  return clone;
}

}  // namespace

Result<std::optional<TempFile>> cloneInPlace(int srcFd, const DiskView& view,
                                             const std::string& srcPath, int dstDirFd,
                                             const CloneOptions& options) {
  // An encrypted source's file holds ciphertext; a copy of a qcow2 file would keep its backing
  // file's name, which the general way flattens instead.
  if (!options.source.passphrase.empty()) return std::optional<TempFile>();
  if (!options.backing && !view.backingFile().empty()) return std::optional<TempFile>();
  VS_ASSIGN_OR_RETURN(MaybeEdits edits, identityEdits(srcFd, view, options));
  if (!edits) return std::optional<TempFile>();
  if (!options.backing) return copyEdited(srcFd, view, dstDirFd, *edits, options);
  VS_ASSIGN_OR_RETURN(TempFile overlay, overlayOfEdits(view, srcPath, dstDirFd, *edits, options));
  return std::optional<TempFile>(std::move(overlay));
}

}  // namespace virtscratch::image
