#include "image/guest_copy.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "image/size.h"

namespace virtscratch::image {
namespace {

// Guest bytes are read and compared in blocks of this size: large enough for few reads through
// a qcow2 DiskView, small enough to keep memory flat.
constexpr uint64_t kBlock = 1 * kMiB;

Status cancelledStatus() { return {ErrorCode::kCancelled, "cancelled"}; }

bool isCancelled(ProgressSink* progress) { return progress != nullptr && progress->cancelled(); }

uint64_t totalLength(const std::vector<Extent>& extents) {
  uint64_t total = 0;
  for (const Extent& e : extents) total += e.length;
  return total;
}

}  // namespace

Status copyRawFile(int srcFd, int dstFd, uint64_t size, ProgressSink* progress) {
  // A reflink shares every block, holes included, in one call; where the host filesystem cannot
  // (ext4, tmpfs, across filesystems) the data extents are copied instead.
  if (ioctl(dstFd, FICLONE, srcFd) == 0) {
    if (ftruncate(dstFd, static_cast<off_t>(size)) != 0) {
      return errnoStatus("set the size of the clone", errno);
    }
    if (progress != nullptr) progress->report(size, size);
    return {};
  }
  if (ftruncate(dstFd, 0) != 0 || ftruncate(dstFd, static_cast<off_t>(size)) != 0) {
    return errnoStatus("set the size of the copy", errno);
  }
  return copyDataRange(srcFd, 0, size, dstFd, 0, progress);
}

Status copyDataRange(int srcFd, uint64_t offset, uint64_t length, int dstFd, uint64_t dstOffset,
                     ProgressSink* progress) {
  VS_ASSIGN_OR_RETURN(std::vector<Extent> extents, dataExtents(srcFd, offset, offset + length));
  uint64_t total = totalLength(extents), done = 0;
  for (const Extent& e : extents) {
    if (isCancelled(progress)) return cancelledStatus();
    VS_RETURN_IF_ERROR(
        copyRange(srcFd, e.offset, dstFd, dstOffset + (e.offset - offset), e.length));
    done += e.length;
    if (progress != nullptr) progress->report(done, total);
  }
  return {};
}

Status copyGuestBytes(const DiskView& view, int dstFd, ProgressSink* progress) {
  return copyGuestRange(view, {0, view.virtualSize()}, dstFd, 0, progress);
}

Status copyGuestRange(const DiskView& view, Extent range, int dstFd, uint64_t dstOffset,
                      ProgressSink* progress) {
  // A window of extents at a time, so memory does not grow with the guest's fragmentation;
  // progress is the guest offset reached within the range.
  std::vector<uint8_t> buf;
  for (uint64_t window = range.offset; window < range.end();) {
    uint64_t windowEnd = window + std::min(ExtentWalker::kWindow, range.end() - window);
    VS_ASSIGN_OR_RETURN(std::vector<Extent> extents, view.dataExtents(window, windowEnd));
    for (const Extent& e : extents) {
      for (uint64_t pos = e.offset; pos < e.end();) {
        if (isCancelled(progress)) return cancelledStatus();
        auto n = static_cast<size_t>(std::min(kBlock, e.end() - pos));
        buf.resize(n);
        VS_RETURN_IF_ERROR(view.read(pos, buf));
        VS_RETURN_IF_ERROR(writeAll(dstFd, buf.data(), n, dstOffset + (pos - range.offset)));
        pos += n;
        if (progress != nullptr) progress->report(pos - range.offset, range.length);
      }
    }
    window = windowEnd;
  }
  return {};
}

Status zeroRange(int fd, uint64_t offset, uint64_t length) {
  if (length == 0) return {};
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(length)) == 0) {
    return {};
  }
  if (errno != EOPNOTSUPP && errno != ENOSYS) return errnoStatus("punch a hole", errno);
  std::vector<uint8_t> zeros(static_cast<size_t>(std::min(kBlock, length)), 0);
  for (uint64_t pos = offset; pos < offset + length;) {
    auto n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), offset + length - pos));
    VS_RETURN_IF_ERROR(writeAll(fd, zeros.data(), n, pos));
    pos += n;
  }
  return {};
}

ByteReader viewReader(const DiskView& view) {
  return [&view](uint64_t offset, std::span<uint8_t> out) { return view.read(offset, out); };
}

ByteReader fileReader(int fd, uint64_t base) {
  return [fd, base](uint64_t offset, std::span<uint8_t> out) -> Status {
    // Past the end of the file reads as zeros, like a hole.
    auto n = pread(fd, out.data(), out.size(), static_cast<off_t>(base + offset));
    if (n < 0) return errnoStatus("read at offset " + std::to_string(base + offset), errno);
    if (static_cast<size_t>(n) < out.size()) {
      std::fill(out.begin() + n, out.end(), uint8_t{0});
    }
    return {};
  };
}

Result<std::vector<Extent>> differingChunks(const ByteReader& a, const ByteReader& b,
                                            const std::vector<Extent>& regions, uint64_t unit,
                                            uint64_t limit, ProgressSink* progress) {
  // Widen every region to whole units first, so that each unit is read and judged once.
  std::vector<Extent> chunks;
  for (const Extent& r : regions) {
    uint64_t start = r.offset / unit * unit;
    uint64_t end = std::min(limit, (r.end() + unit - 1) / unit * unit);
    if (start < end) appendMerged(chunks, {start, end - start});
  }
  uint64_t block = std::max(unit, kBlock / unit * unit);
  std::vector<uint8_t> bufA, bufB;
  std::vector<Extent> changed;
  uint64_t total = totalLength(chunks), done = 0;
  for (const Extent& c : chunks) {
    for (uint64_t pos = c.offset; pos < c.end();) {
      if (isCancelled(progress)) return cancelledStatus();
      auto n = static_cast<size_t>(std::min(block, c.end() - pos));
      bufA.resize(n);
      bufB.resize(n);
      VS_RETURN_IF_ERROR(a(pos, bufA));
      VS_RETURN_IF_ERROR(b(pos, bufB));
      for (size_t at = 0; at < n; at += unit) {
        size_t len = std::min<size_t>(unit, n - at);
        if (std::memcmp(bufA.data() + at, bufB.data() + at, len) != 0) {
          appendMerged(changed, {pos + at, len});
        }
      }
      pos += n;
      done += n;
      if (progress != nullptr) progress->report(done, total);
    }
  }
  return changed;
}

std::vector<Extent> unionOf(std::vector<Extent> a, const std::vector<Extent>& b) {
  a.insert(a.end(), b.begin(), b.end());
  std::sort(a.begin(), a.end(),
            [](const Extent& x, const Extent& y) { return x.offset < y.offset; });
  std::vector<Extent> out;
  for (const Extent& e : a) {
    if (e.length > 0) appendMerged(out, e);
  }
  return out;
}

}  // namespace virtscratch::image
