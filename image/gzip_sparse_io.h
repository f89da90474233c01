// The two ends of gzip import: a forward-only reader of the compressed input (a file or a pipe,
// never seeked) that can keep recent bytes for a second look, and a writer that turns runs of
// zeros in the decompressed output into holes. Both belong to the one thread doing the import.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/progress.h"
#include "base/status.h"

namespace virtscratch::image {

class GzipInput {
 public:
  // `total` is the input size for progress (0 when unknown); `progress` may be null.
  GzipInput(int fd, size_t capacity, ProgressSink* progress, uint64_t total);

  const uint8_t* data() const { return buf_.data() + pos_; }
  size_t available() const { return end_ - pos_; }
  // The compressed offset of data()[0].
  uint64_t offset() const { return base_ + pos_; }
  void consume(size_t n) { pos_ += n; }
  // The byte at compressed offset `at`, which must still be buffered (see keepFrom below).
  const uint8_t* pointerTo(uint64_t at) const { return buf_.data() + (at - base_); }
  bool holds(uint64_t at) const { return at >= base_ && at <= base_ + end_; }

  // Reads more input. Bytes from compressed offset `keepFrom` on stay buffered when they take at
  // most a quarter of the buffer. Returns false at the end of the input.
  Result<bool> readMore(uint64_t keepFrom);
  // Reads until `n` bytes are available (n at most half the capacity); false if the input ends
  // first.
  Result<bool> ensure(size_t n, uint64_t keepFrom);
  // Bytes read so far: the end of the input once readMore returned false.
  uint64_t bytesRead() const { return base_ + end_; }

 private:
  int fd_;
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
  size_t end_ = 0;
  uint64_t base_ = 0;  // compressed offset of buf_[0]
  bool eof_ = false;
  ProgressSink* progress_;
  uint64_t total_;
  uint64_t reported_ = 0;
};

class SparseWriter {
 public:
  // `fd` is an empty regular file; blocks of `kBlock` bytes (aligned to the output offset) that
  // are all zeros are not written.
  SparseWriter(int fd, size_t capacity, ProgressSink* progress);
  static constexpr uint64_t kBlock = 4096;

  // Where the next output bytes go; never empty.
  std::span<uint8_t> space() { return {buf_.data() + fill_, buf_.size() - fill_}; }
  // The first `n` bytes of space() are output now; flushes a full buffer.
  Status commit(size_t n);
  // `n` zero bytes follow: they become a hole.
  Status skipZeros(uint64_t n);
  // Writes what is buffered and sets the file size, so that trailing zeros are a hole too.
  Status finish();
  uint64_t size() const { return offset_ + fill_; }

 private:
  Status flush();

  int fd_;
  std::vector<uint8_t> buf_;
  size_t fill_ = 0;
  uint64_t offset_ = 0;  // output offset of buf_[0]
  ProgressSink* progress_;
};

}  // namespace virtscratch::image
