#include "base/file_io.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

namespace virtscratch {
namespace {

// Work is done in chunks of this size so that progress and cancellation stay responsive.
constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kCopyChunk = 64 * kMiB;

bool fallBackFromKernelCopy(int err) {
  return err == EXDEV || err == EINVAL || err == EOPNOTSUPP || err == ENOSYS || err == EBADF ||
         err == ETXTBSY;
}

Status copyByReading(int inFd, uint64_t inOffset, int outFd, uint64_t outOffset, uint64_t length) {
  std::vector<char> buf(std::min<uint64_t>(length, 1 * kMiB));
  while (length > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length, buf.size()));
    VS_RETURN_IF_ERROR(readAll(inFd, buf.data(), n, inOffset));
    VS_RETURN_IF_ERROR(writeAll(outFd, buf.data(), n, outOffset));
    inOffset += n;
    outOffset += n;
    length -= n;
  }
  return {};
}

// One chunk: reflink, then copy_file_range, then plain reads.
Status copyChunk(int inFd, uint64_t inOffset, int outFd, uint64_t outOffset, uint64_t length,
                 uint64_t blockSize) {
  if (inOffset % blockSize == 0 && outOffset % blockSize == 0 && length % blockSize == 0) {
    file_clone_range range{};
    range.src_fd = inFd;
    range.src_offset = inOffset;
    range.src_length = length;
    range.dest_offset = outOffset;
    if (ioctl(outFd, FICLONERANGE, &range) == 0) return {};
  }
  while (length > 0) {
    auto in = static_cast<loff_t>(inOffset);
    auto out = static_cast<loff_t>(outOffset);
    ssize_t n = copy_file_range(inFd, &in, outFd, &out, length, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (fallBackFromKernelCopy(errno)) {
        return copyByReading(inFd, inOffset, outFd, outOffset, length);
      }
      return errnoStatus("copy_file_range", errno);
    }
    if (n == 0)
      return failed("copy_file_range: source ended early at offset " + std::to_string(inOffset));
    inOffset += static_cast<uint64_t>(n);
    outOffset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  return {};
}

}  // namespace

Status writeAll(int fd, const void* data, size_t length, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (length > 0) {
    ssize_t n = pwrite(fd, p, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("write at offset " + std::to_string(offset), errno);
    }
    p += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

Status readAll(int fd, void* data, size_t length, uint64_t offset) {
  char* p = static_cast<char*>(data);
  while (length > 0) {
    ssize_t n = pread(fd, p, length, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errnoStatus("read at offset " + std::to_string(offset), errno);
    }
    if (n == 0) return failed("unexpected end of file at offset " + std::to_string(offset));
    p += n;
    length -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

void appendMerged(std::vector<Extent>& out, Extent e) {
  if (e.length == 0) return;
  if (!out.empty() && out.back().end() >= e.offset) {
    out.back().length = std::max(out.back().end(), e.end()) - out.back().offset;
  } else {
    out.push_back(e);
  }
}

Result<std::vector<Extent>> dataExtents(int fd, uint64_t start, uint64_t end) {
  std::vector<Extent> extents;
  uint64_t pos = start;
  while (pos < end) {
    off_t data = lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // no data after pos
      if (errno == EINVAL || errno == EOPNOTSUPP) {
        extents.push_back({pos, end - pos});  // no hole reporting: assume data
        break;
      }
      return errnoStatus("seek to data", errno);
    }
    auto dataStart = static_cast<uint64_t>(data);
    if (dataStart >= end) break;
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return errnoStatus("seek to hole", errno);
    uint64_t dataEnd = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    if (!extents.empty() && extents.back().end() == dataStart) {
      extents.back().length += dataEnd - dataStart;
    } else {
      extents.push_back({dataStart, dataEnd - dataStart});
    }
    pos = dataEnd;
  }
  return extents;
}

Status fillHoles(int fd, uint64_t start, uint64_t end, ProgressSink* progress) {
  VS_ASSIGN_OR_RETURN(std::vector<Extent> data, dataExtents(fd, start, end));
  std::vector<char> zeros(4 * 1024 * 1024, 0);
  uint64_t pos = start, done = 0;
  data.push_back({end, 0});
  for (const Extent& e : data) {
    while (pos < e.offset) {
      if (progress != nullptr && progress->cancelled()) return {ErrorCode::kCancelled, "cancelled"};
      size_t n = static_cast<size_t>(std::min<uint64_t>(zeros.size(), e.offset - pos));
      VS_RETURN_IF_ERROR(writeAll(fd, zeros.data(), n, pos));
      pos += n;
      done += n;
      if (progress != nullptr) progress->report(done, end - start);
    }
    pos = std::max(pos, e.end());
  }
  return {};
}

Status copyRange(int inFd, uint64_t inOffset, int outFd, uint64_t outOffset, uint64_t length,
                 ProgressSink* progress) {
  struct stat st;
  uint64_t blockSize =
      fstat(outFd, &st) == 0 && st.st_blksize > 0 ? static_cast<uint64_t>(st.st_blksize) : 4096;
  uint64_t done = 0;
  while (done < length) {
    if (progress != nullptr && progress->cancelled()) {
      return {ErrorCode::kCancelled, "cancelled"};
    }
    uint64_t n = std::min(kCopyChunk, length - done);
    VS_RETURN_IF_ERROR(copyChunk(inFd, inOffset + done, outFd, outOffset + done, n, blockSize));
    done += n;
    if (progress != nullptr) progress->report(done, length);
  }
  return {};
}

Result<uint64_t> allocatedBytes(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return errnoStatus("fstat", errno);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

std::string procPathOf(int fd) {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd);
}

const char* fileTypeName(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "of an unknown type";
}

}  // namespace virtscratch
