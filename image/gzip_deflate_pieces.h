// The pieces gzip export strings together into one deflate stream. Every piece is a run of raw
// deflate blocks (none marked final) ending on a byte boundary after a sync flush, so pieces
// concatenate into one valid stream: the pigz technique. A piece refers back at most to the 32
// KiB of guest bytes just before it (the dictionary it was primed with), which the decoder has
// just produced, so pieces can be made in any order on any thread. Runs of zeros get
// hand-written pieces, incompressible data stored blocks, everything else zlib's deflate.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "image/disk_view.h"

namespace virtscratch::image {

struct DeflateDeleter {
  void operator()(z_stream* stream) const;
};
using DeflatePtr = std::unique_ptr<z_stream, DeflateDeleter>;

// A raw deflate stream (no zlib or gzip wrapper) at `level` 1..9.
Result<DeflatePtr> newRawDeflate(int level);

// Compressed zeros of any length, in time and space proportional to the output (about 1 KiB
// per MiB, close to the best deflate can do). The blocks are written by hand rather than by
// zlib: zlib codes zeros as copies at distance 1, which inflaters copy a byte at a time with
// each byte waiting for the previous one; distance 4 costs the same bits (no extra bits) and
// decodes several times faster in zlib and gunzip. The bytes depend on nothing but the count,
// so every export writes the same piece for every MiB of zeros, which import recognises.
// Built once; read-only (so shareable between threads) afterwards.
class ZeroPieces {
 public:
  ZeroPieces();
  // Appends pieces that decode to `count` zero bytes.
  void append(uint64_t count, std::vector<uint8_t>& out) const;

 private:
  static constexpr uint64_t kPiece = 1024 * 1024;
  std::vector<uint8_t> piece_;  // kPiece zeros
};

// A run of guest bytes compressed as one unit of work.
struct DeflateJob {
  uint64_t offset = 0;
  uint64_t length = 0;
  // Guest bytes just before `offset` that the decoder has already produced and this job may
  // refer back to (0..32 KiB).
  uint64_t dictLength = 0;
};

// Compresses jobs into pieces. One per worker thread; it keeps its buffers between jobs.
class ChunkCompressor {
 public:
  static Result<ChunkCompressor> create(const DiskView& disk, const ZeroPieces& zeros, int level);

  // Replaces `out` with the pieces for `job` and returns the CRC-32 of the job's bytes.
  // The job is cut into blocks aligned to kBlock guest bytes: all-zero blocks become zero
  // pieces, blocks deflate cannot shrink (random, encrypted or compressed data: high byte
  // entropy and no repeats) are stored as they are, as gzip -1 ends up doing after a search
  // that runs at some 30 MB/s, and runs of the other blocks are deflated.
  Result<uint32_t> compress(const DeflateJob& job, std::vector<uint8_t>& out);

  static constexpr uint64_t kBlock = 64 * 1024;

 private:
  enum class Kind { kZeros, kStored, kDeflated };

  ChunkCompressor(const DiskView& disk, const ZeroPieces& zeros, DeflatePtr stream);
  Kind classify(size_t begin, size_t end);
  bool incompressible(size_t begin, size_t end);
  bool hasRepeats(size_t begin, size_t end);
  // Appends the pieces for buf_[begin, end); a deflated run is primed with what precedes it
  // from buf_[dictFloor] on (at most 32 KiB).
  Status emit(Kind kind, size_t dictFloor, size_t begin, size_t end, std::vector<uint8_t>& out);

  const DiskView& disk_;
  const ZeroPieces& zeros_;
  DeflatePtr stream_;
  std::vector<uint8_t> buf_;
  std::vector<uint32_t> anchors_;  // hasRepeats' hash table
};

}  // namespace virtscratch::image
