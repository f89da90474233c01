#include "image/qcow2_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <memory>
#include <string>
#include <vector>

#include "base/file_io.h"
#include "image/disk_view.h"
#include "image/qcow2_encrypted_data.h"
#include "image/qcow2_format.h"
#include "image/qcow2_layout.h"
#include "image/qcow2_reader.h"
#include "image/size.h"

// Writes the layout planned in qcow2_layout.h front to back. Tables are generated one cluster
// (or one MiB) at a time, so memory stays at the L1 table plus a few buffers whatever the size.

namespace virtscratch::image {
namespace {

using namespace qcow2;

constexpr uint64_t kClusterSize = kWriterClusterSize;
constexpr uint64_t kL2Entries = kWriterL2Entries;
constexpr size_t kBufferSize = 1 * kMiB;
constexpr uint64_t kProgressStep = 4 * kMiB;
constexpr uint64_t kBlock = 4096;  // the filesystem block, for keeping holes

uint64_t divRoundUp(uint64_t a, uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

Status cancelledStatus() { return {ErrorCode::kCancelled, "qcow2 image writing cancelled"}; }

bool isCancelled(const ProgressSink* progress) {
  return progress != nullptr && progress->cancelled();
}

std::string extentName(size_t index, const SourceExtent& e) {
  return "extent " + std::to_string(index) + " (guest offset " + std::to_string(e.guestOffset) +
         ", length " + std::to_string(e.length) + ")";
}

Status validate(const Qcow2WriteOptions& options, std::span<const SourceExtent> extents) {
  if (options.virtualSize == 0) {
    return invalidArgument("qcow2 virtual size 0 is invalid; give a size of at least 1 byte");
  }
  if (options.virtualSize > kWriterMaxVirtualSize) {
    return invalidArgument("qcow2 virtual size " + std::to_string(options.virtualSize) +
                           " is above the largest qcow2 image with 64 KiB clusters (" +
                           std::to_string(kWriterMaxVirtualSize) + " bytes)");
  }
  if (options.backingFile.size() > kMaxBackingFileNameLength) {
    return invalidArgument(
        "qcow2 backing file name of " + std::to_string(options.backingFile.size()) +
        " bytes is too long; the limit is " + std::to_string(kMaxBackingFileNameLength));
  }
  if (options.backingFile.find('\0') != std::string::npos) {
    return invalidArgument("qcow2 backing file name '" + options.backingFile +
                           "' contains a NUL byte");
  }
  if (!options.backingFile.empty() && options.preallocation != Preallocation::kOff) {
    return invalidArgument("preallocation=" + std::string(toString(options.preallocation)) +
                           " cannot be combined with backing file '" + options.backingFile +
                           "': preallocated clusters would hide it; use preallocation=off");
  }
  if (options.luks != nullptr &&
      (!options.backingFile.empty() || options.preallocation != Preallocation::kOff)) {
    return invalidArgument(
        "an encrypted qcow2 image can have neither a backing file nor preallocation");
  }
  uint64_t previousEnd = 0;
  for (size_t i = 0; i < extents.size(); ++i) {
    const SourceExtent& e = extents[i];
    if (e.length == 0) continue;
    if (e.fd < 0) {
      return invalidArgument(extentName(i, e) + " has no source: fd " + std::to_string(e.fd));
    }
    if (e.guestOffset >= options.virtualSize || e.length > options.virtualSize - e.guestOffset) {
      return invalidArgument(extentName(i, e) + " ends past the virtual size " +
                             std::to_string(options.virtualSize));
    }
    if (e.sourceOffset > static_cast<uint64_t>(INT64_MAX) - e.length) {
      return invalidArgument(extentName(i, e) + " has source offset " +
                             std::to_string(e.sourceOffset) + " beyond any file");
    }
    if (e.guestOffset < previousEnd) {
      return invalidArgument(extentName(i, e) + " starts before the end of the extent before it (" +
                             std::to_string(previousEnd) +
                             "); extents must be sorted by guest offset and disjoint");
    }
    previousEnd = e.guestOffset + e.length;
  }
  return {};
}

void appendExtension(std::vector<uint8_t>& out, uint32_t type, const std::vector<uint8_t>& data) {
  size_t at = out.size();
  out.resize(at + 8 + divRoundUp(data.size(), 8) * 8, 0);
  store32(&out[at], type);
  store32(&out[at + 4], static_cast<uint32_t>(data.size()));
  std::copy(data.begin(), data.end(), out.begin() + static_cast<ptrdiff_t>(at + 8));
}

std::vector<uint8_t> featureNameTable() {
  struct Feature {
    uint8_t type;  // 0 incompatible, 1 compatible, 2 autoclear
    uint8_t bit;
    const char* name;
  };
  static constexpr Feature kFeatures[] = {
      {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
      {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
      {2, 0, "bitmaps"},          {2, 1, "raw external data"},
  };
  std::vector<uint8_t> table(std::size(kFeatures) * kFeatureNameEntrySize, 0);
  for (size_t i = 0; i < std::size(kFeatures); ++i) {
    uint8_t* entry = &table[i * kFeatureNameEntrySize];
    entry[0] = kFeatures[i].type;
    entry[1] = kFeatures[i].bit;
    std::string_view name = kFeatures[i].name;
    std::copy(name.begin(), name.end(), entry + 2);
  }
  return table;
}

Status writeHeader(int fd, const Layout& l, const Qcow2WriteOptions& options) {
  std::vector<uint8_t> h(kHeaderV3Length, 0);
  store32(&h[kOffMagic], kMagic);
  store32(&h[kOffVersion], 3);
  store32(&h[kOffClusterBits], kWriterClusterBits);
  store64(&h[kOffSize], l.headerSize);
  store32(&h[kOffL1Size], static_cast<uint32_t>(l.l1Entries));
  store64(&h[kOffL1TableOffset], l.l1Offset());
  store64(&h[kOffRefcountTableOffset], l.refcountTableOffset());
  store32(&h[kOffRefcountTableClusters], static_cast<uint32_t>(l.refcountTableClusters));
  store32(&h[kOffRefcountOrder], kWriterRefcountOrder);
  store32(&h[kOffHeaderLength], kHeaderV3Length);
  h[kOffCompressionType] = kCompressionZlib;
  if (options.luks != nullptr) {
    store32(&h[kOffCryptMethod], kCryptLuks);
    std::vector<uint8_t> where(16);
    store64(&where[0], l.cryptoOffset());
    store64(&where[8], options.luks->payloadOffset);
    appendExtension(h, kExtCryptoHeader, where);
  }
  if (!options.backingFile.empty()) {
    std::string_view format = toString(options.backingFormat);
    appendExtension(h, kExtBackingFormat, std::vector<uint8_t>(format.begin(), format.end()));
  }
  appendExtension(h, kExtFeatureNameTable, featureNameTable());
  appendExtension(h, kExtEnd, {});
  if (!options.backingFile.empty()) {
    store64(&h[kOffBackingFileOffset], h.size());
    store32(&h[kOffBackingFileSize], static_cast<uint32_t>(options.backingFile.size()));
    h.insert(h.end(), options.backingFile.begin(), options.backingFile.end());
  }
  return writeAll(fd, h.data(), h.size(), 0);
}

// The refcount table, then the blocks: these are contiguous and every cluster of the file has
// refcount 1, so together they are one run of 16-bit ones, the unused tail left a hole (zeros).
Status writeRefcounts(int fd, const Layout& l, const ProgressSink* progress) {
  std::vector<uint8_t> buf(kBufferSize);
  for (uint64_t done = 0; done < l.refcountBlocks;) {
    uint64_t n = std::min<uint64_t>(l.refcountBlocks - done, kBufferSize / 8);
    for (uint64_t i = 0; i < n; ++i) {
      store64(&buf[i * 8], l.refcountBlocksOffset() + (done + i) * kClusterSize);
    }
    VS_RETURN_IF_ERROR(writeAll(fd, buf.data(), n * 8, l.refcountTableOffset() + done * 8));
    done += n;
  }
  for (size_t i = 0; i < kBufferSize; i += 2) store16(&buf[i], 1);
  for (uint64_t done = 0; done < l.totalClusters;) {
    if (isCancelled(progress)) return cancelledStatus();
    uint64_t n = std::min<uint64_t>(l.totalClusters - done, kBufferSize / 2);
    VS_RETURN_IF_ERROR(writeAll(fd, buf.data(), n * 2, l.refcountBlocksOffset() + done * 2));
    done += n;
  }
  return {};
}

// Generates the L2 tables one at a time, in guest order, and the L1 table pointing to them.
// Only the 4 KiB pages of a table that hold entries are written; the rest stays a hole.
Status writeTables(int fd, const Layout& l, const ProgressSink* progress) {
  const std::vector<ClusterRun>& runs = l.runs;
  std::vector<uint8_t> l1(l.l1Entries * 8, 0);
  std::vector<uint8_t> l2(kClusterSize);
  uint64_t tableIndex = 0;
  size_t r = 0;
  uint64_t nextCluster = runs.empty() ? 0 : runs[0].first;
  while (r < runs.size()) {
    if (tableIndex % 64 == 0 && isCancelled(progress)) return cancelledStatus();
    uint64_t region = nextCluster / kL2Entries;
    uint64_t regionStart = region * kL2Entries;
    uint64_t regionEnd = regionStart + kL2Entries;
    std::fill(l2.begin(), l2.end(), 0);
    uint64_t lowest = kL2Entries;
    uint64_t highest = 0;
    while (r < runs.size() && runs[r].first < regionEnd) {
      const ClusterRun& run = runs[r];
      uint64_t from = std::max(run.first, regionStart);
      uint64_t to = std::min(run.end, regionEnd);
      for (uint64_t c = from; c < to; ++c) {
        uint64_t host = l.dataOffset() + (run.rank + c - run.first) * kClusterSize;
        store64(&l2[(c - regionStart) * 8], host | kFlagCopied);
      }
      lowest = std::min(lowest, from - regionStart);
      highest = std::max(highest, to - regionStart);
      if (run.end > regionEnd) {
        nextCluster = regionEnd;
        break;
      }
      ++r;
      if (r < runs.size()) nextCluster = runs[r].first;
    }
    uint64_t tableOffset = l.l2Offset() + tableIndex * kClusterSize;
    uint64_t begin = lowest * 8 / kBlock * kBlock;
    uint64_t end = divRoundUp(highest * 8, kBlock) * kBlock;
    VS_RETURN_IF_ERROR(writeAll(fd, &l2[begin], end - begin, tableOffset + begin));
    store64(&l1[region * 8], tableOffset | kFlagCopied);
    ++tableIndex;
  }
  return writeAll(fd, l1.data(), l1.size(), l.l1Offset());
}

// preallocation=full: zeros written over the data area wherever no extent will be copied. With
// preallocation every guest cluster is mapped, so guest offset g lives at dataOffset + g.
Status writeZeros(int fd, const Layout& l, std::span<const SourceExtent> extents,
                  const ProgressSink* progress) {
  std::vector<uint8_t> zeros(kBufferSize, 0);
  auto fill = [&](uint64_t from, uint64_t to) -> Status {
    while (from < to) {
      if (isCancelled(progress)) return cancelledStatus();
      uint64_t n = std::min<uint64_t>(to - from, kBufferSize);
      VS_RETURN_IF_ERROR(writeAll(fd, zeros.data(), n, l.dataOffset() + from));
      from += n;
    }
    return {};
  };
  uint64_t pos = 0;
  for (const SourceExtent& e : extents) {
    if (e.length == 0) continue;
    VS_RETURN_IF_ERROR(fill(pos, e.guestOffset));
    pos = e.guestOffset + e.length;
  }
  return fill(pos, l.guestClusters * kClusterSize);
}

// Turns copyRange's per-call progress into progress over all extents, at most every few MiB.
class ExtentProgress final : public ProgressSink {
 public:
  ExtentProgress(ProgressSink* outer, uint64_t total) : outer_(outer), total_(total) {}
  void startExtent(uint64_t base) { base_ = base; }
  void report(uint64_t done, uint64_t /*total*/) override {
    uint64_t now = base_ + done;
    if (now - reported_ >= kProgressStep || now == total_) {
      outer_->report(now, total_);
      reported_ = now;
    }
  }
  bool cancelled() const override { return outer_->cancelled(); }

 private:
  ProgressSink* outer_;
  uint64_t total_;
  uint64_t base_ = 0;
  uint64_t reported_ = 0;
};

Status copyExtents(int fd, const Layout& l, std::span<const SourceExtent> extents,
                   ProgressSink* progress) {
  const std::vector<ClusterRun>& runs = l.runs;
  uint64_t total = 0;
  for (const SourceExtent& e : extents) total += e.length;
  ExtentProgress sink(progress, total);
  ProgressSink* copyProgress = progress != nullptr ? &sink : nullptr;
  uint64_t copied = 0;
  size_t r = 0;
  for (size_t i = 0; i < extents.size(); ++i) {
    const SourceExtent& e = extents[i];
    if (e.length == 0) continue;
    if (isCancelled(progress)) return cancelledStatus();
    uint64_t cluster = e.guestOffset >> kWriterClusterBits;
    while (runs[r].end <= cluster) ++r;
    uint64_t host = l.hostOffset(runs[r], e.guestOffset);
    sink.startExtent(copied);
    Status status = copyRange(e.fd, e.sourceOffset, fd, host, e.length, copyProgress);
    if (status.code() == ErrorCode::kCancelled) return cancelledStatus();
    VS_RETURN_IF_ERROR(status.withContext("copying " + extentName(i, e)));
    copied += e.length;
  }
  if (progress != nullptr) progress->report(total, total);
  return {};
}

// An overlay's cluster hides the backing file's whole cluster, so the bytes of a partly written
// cluster that no extent covers are copied from the backing file, as QEMU does on a write.
Result<std::unique_ptr<DiskView>> openBacking(int outFd, const Qcow2WriteOptions& options) {
  std::string path = options.backingFile;
  if (path.front() != '/') {
    // Relative to the image's directory, which only the descriptor knows; an unnamed
    // (O_TMPFILE) file still links to its directory.
    std::string self(PATH_MAX, '\0');
    ssize_t n = readlink(procPathOf(outFd).c_str(), self.data(), self.size() - 1);
    if (n <= 0) return errnoStatus("finding the directory of the qcow2 image", errno);
    self.resize(static_cast<size_t>(n));
    size_t slash = self.rfind('/');
    path = (slash == std::string::npos || slash == 0 ? "" : self.substr(0, slash)) + "/" + path;
  }
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return errnoStatus("opening backing file '" + path + "'", errno);
  if (options.backingFormat == ImageFormat::kRaw) return openRawDiskView(std::move(fd), path);
  return openQcow2(std::move(fd), path);
}

Status fillFromBacking(int fd, const Layout& l, const Qcow2WriteOptions& options,
                       std::span<const SourceExtent> extents) {
  std::unique_ptr<DiskView> backing;
  std::vector<uint8_t> buf;
  auto fill = [&](const ClusterRun& run, uint64_t from, uint64_t to) -> Status {
    if (from >= to) return {};
    if (!backing) {
      VS_ASSIGN_OR_RETURN(backing, openBacking(fd, options));
    }
    to = std::min(to, backing->virtualSize());
    if (from >= to) return {};  // past the backing file's end: zeros, as in a hole
    buf.resize(to - from);      // under two clusters: gaps lie in partly written clusters
    VS_RETURN_IF_ERROR(backing->read(from, buf).withContext("reading backing file"));
    // Only the 4 KiB blocks holding something are written, so the overlay stays sparse.
    uint64_t pending = to;
    for (uint64_t block = from; block < to;) {
      uint64_t next = std::min(to, (block / kBlock + 1) * kBlock);
      auto first = buf.begin() + static_cast<ptrdiff_t>(block - from);
      bool zero = std::all_of(first, first + static_cast<ptrdiff_t>(next - block),
                              [](uint8_t b) { return b == 0; });
      if (!zero && pending == to) pending = block;
      if ((zero || next == to) && pending != to) {
        uint64_t stop = zero ? block : next;
        VS_RETURN_IF_ERROR(
            writeAll(fd, &buf[pending - from], stop - pending, l.hostOffset(run, pending)));
        pending = to;
      }
      block = next;
    }
    return {};
  };
  size_t i = 0;
  for (const ClusterRun& run : l.runs) {
    uint64_t pos = run.first * kClusterSize;
    uint64_t runEnd = std::min(run.end * kClusterSize, l.headerSize);
    for (; i < extents.size() && extents[i].guestOffset < runEnd; ++i) {
      if (extents[i].length == 0) continue;
      VS_RETURN_IF_ERROR(fill(run, pos, extents[i].guestOffset));
      pos = extents[i].guestOffset + extents[i].length;
    }
    VS_RETURN_IF_ERROR(fill(run, pos, runEnd));
  }
  return {};
}

}  // namespace

Status writeQcow2(int outFd, const Qcow2WriteOptions& options,
                  std::span<const SourceExtent> extents) {
  VS_RETURN_IF_ERROR(validate(options, extents));
  Layout layout = planLayout(options.virtualSize, options.preallocation != Preallocation::kOff,
                             extents, options.luks != nullptr ? options.luks->payloadOffset : 0);
  ProgressSink* progress = options.progress;

  if (ftruncate(outFd, static_cast<off_t>(layout.fileSize())) != 0) {
    return errnoStatus("sizing the qcow2 image to " + std::to_string(layout.fileSize()) + " bytes",
                       errno);
  }
  VS_RETURN_IF_ERROR(writeHeader(outFd, layout, options));
  VS_RETURN_IF_ERROR(writeRefcounts(outFd, layout, progress));
  VS_RETURN_IF_ERROR(writeTables(outFd, layout, progress));
  uint64_t dataBytes = layout.dataClusters * kClusterSize;
  if (options.preallocation == Preallocation::kFalloc && dataBytes > 0) {
    int err = posix_fallocate(outFd, static_cast<off_t>(layout.dataOffset()),
                              static_cast<off_t>(dataBytes));
    if (err != 0) {
      return errnoStatus(
          "reserving " + std::to_string(dataBytes) + " bytes for preallocation=falloc", err);
    }
  }
  if (options.preallocation == Preallocation::kFull) {
    VS_RETURN_IF_ERROR(writeZeros(outFd, layout, extents, progress));
  }
  if (!options.backingFile.empty()) {
    VS_RETURN_IF_ERROR(fillFromBacking(outFd, layout, options, extents));
  }
  if (options.luks != nullptr) {
    const LuksVolume& v = *options.luks;
    VS_RETURN_IF_ERROR(writeAll(outFd, v.header.data(), v.header.size(), layout.cryptoOffset()));
    VS_RETURN_IF_ERROR(writeAll(outFd, v.material.data(), v.material.size(),
                                layout.cryptoOffset() + v.materialOffset));
    return writeEncryptedClusters(outFd, layout, extents, v.masterKey, progress);
  }
  return copyExtents(outFd, layout, extents, progress);
}

}  // namespace virtscratch::image
