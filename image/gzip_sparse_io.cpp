#include "image/gzip_sparse_io.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "base/file_io.h"
#include "image/gzip_zeros.h"

namespace virtscratch::image {
namespace {

// Progress is reported about this often, not on every read from a pipe.
constexpr uint64_t kReportEvery = 4 << 20;

Status cancelledStatus() { return {ErrorCode::kCancelled, "gzip import was cancelled"}; }

}  // namespace

GzipInput::GzipInput(int fd, size_t capacity, ProgressSink* progress, uint64_t total)
    : fd_(fd), buf_(capacity), progress_(progress), total_(total) {}

Result<bool> GzipInput::readMore(uint64_t keepFrom) {
  if (eof_) return false;
  if (progress_ != nullptr && progress_->cancelled()) return cancelledStatus();
  if (end_ == buf_.size()) {
    size_t keep = pos_;
    if (keepFrom >= base_ && keepFrom <= base_ + pos_ &&
        base_ + pos_ - keepFrom <= buf_.size() / 4) {
      keep = static_cast<size_t>(keepFrom - base_);
    }
    std::memmove(buf_.data(), buf_.data() + keep, end_ - keep);
    base_ += keep;
    pos_ -= keep;
    end_ -= keep;
    if (end_ == buf_.size()) return failed("gzip import: the input buffer is full of unread data");
  }
  for (;;) {
    ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return errnoStatus("read of the gzip input at offset " + std::to_string(bytesRead()), errno);
    if (n == 0) eof_ = true;
    end_ += static_cast<size_t>(n);
    break;
  }
  if (progress_ != nullptr && (eof_ || bytesRead() - reported_ >= kReportEvery)) {
    reported_ = bytesRead();
    progress_->report(reported_, total_);
  }
  return !eof_;
}

Result<bool> GzipInput::ensure(size_t n, uint64_t keepFrom) {
  while (available() < n) {
    VS_ASSIGN_OR_RETURN(bool more, readMore(keepFrom));
    if (!more) return false;
  }
  return true;
}

SparseWriter::SparseWriter(int fd, size_t capacity, ProgressSink* progress)
    : fd_(fd), buf_(capacity), progress_(progress) {}

Status SparseWriter::commit(size_t n) {
  fill_ += n;
  if (fill_ < buf_.size()) return {};
  return flush();
}

Status SparseWriter::skipZeros(uint64_t n) {
  VS_RETURN_IF_ERROR(flush());
  offset_ += n;
  return {};
}

Status SparseWriter::flush() {
  if (progress_ != nullptr && progress_->cancelled()) return cancelledStatus();
  // Runs of blocks with data are written with one call each; zero blocks are skipped.
  constexpr size_t kNone = SIZE_MAX;
  size_t runStart = kNone;
  size_t i = 0;
  while (i < fill_) {
    size_t blockEnd = std::min<size_t>(fill_, i + (kBlock - (offset_ + i) % kBlock));
    if (!isAllZero(buf_.data() + i, blockEnd - i)) {
      if (runStart == kNone) runStart = i;
    } else if (runStart != kNone) {
      VS_RETURN_IF_ERROR(writeAll(fd_, buf_.data() + runStart, i - runStart, offset_ + runStart));
      runStart = kNone;
    }
    i = blockEnd;
  }
  if (runStart != kNone) {
    VS_RETURN_IF_ERROR(writeAll(fd_, buf_.data() + runStart, fill_ - runStart, offset_ + runStart));
  }
  offset_ += fill_;
  fill_ = 0;
  return {};
}

Status SparseWriter::finish() {
  VS_RETURN_IF_ERROR(flush());
  if (ftruncate(fd_, static_cast<off_t>(offset_)) != 0) {
    return errnoStatus("set the size of the imported image to " + std::to_string(offset_), errno);
  }
  return {};
}

}  // namespace virtscratch::image
