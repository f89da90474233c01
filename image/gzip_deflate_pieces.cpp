#include "image/gzip_deflate_pieces.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <string>

#include "image/gzip_zeros.h"

namespace virtscratch::image {
namespace {

constexpr uint64_t kWindow = 32 * 1024;  // how far back deflate can refer
// A block with less entropy than this (bits per byte) is deflated without further ado.
constexpr double kEntropyToCheck = 7.5;
// Otherwise it is deflated only if at least this share of it (percent) repeats earlier bytes
// within deflate's reach, judged from strings at every kAnchorStride-th position.
constexpr size_t kMinRepeatPercent = 3;
constexpr size_t kAnchorStride = 16;
constexpr int kAnchorHashBits = 13;
constexpr size_t kReach = 32768 - 262;  // zlib's farthest match distance (MAX_DIST)
constexpr size_t kMaxStored = 65535;    // the most one stored block holds

// Stored blocks, starting on a byte boundary as every piece does: a header byte (not final,
// type 0, padding), LEN and its complement, then the bytes.
void appendStored(const uint8_t* data, size_t size, std::vector<uint8_t>& out) {
  while (size > 0) {
    const size_t n = std::min(size, kMaxStored);
    const auto len = static_cast<uint16_t>(n);
    const auto nlen = static_cast<uint16_t>(~len);
    out.insert(out.end(), {0x00, static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8),
                           static_cast<uint8_t>(nlen), static_cast<uint8_t>(nlen >> 8)});
    out.insert(out.end(), data, data + n);
    data += n;
    size -= n;
  }
}

// Compresses `data` into `out` (appending) and ends with a sync flush: an empty stored block
// that leaves the stream on a byte boundary with no block marked final.
Status deflateSynced(z_stream* stream, const uint8_t* data, size_t size,
                     std::vector<uint8_t>& out) {
  stream->next_in = const_cast<Bytef*>(data);
  stream->avail_in = static_cast<uInt>(size);
  size_t used = out.size();
  // The bound is for a finished stream; the flush adds a few bytes more, hence the margin.
  size_t room = deflateBound(stream, static_cast<uLong>(size)) + 64;
  for (;;) {
    out.resize(used + room);
    stream->next_out = out.data() + used;
    stream->avail_out = static_cast<uInt>(room);
    int ret = deflate(stream, Z_SYNC_FLUSH);
    used = static_cast<size_t>(stream->next_out - out.data());
    if (ret != Z_OK && ret != Z_BUF_ERROR) {
      return failed("zlib deflate failed with code " + std::to_string(ret));
    }
    if (stream->avail_out != 0) break;
    room = 64 * 1024;
  }
  out.resize(used);
  return {};
}

// Deflate's bits go least significant first; Huffman codes most significant bit first.
class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}
  void bits(uint32_t value, int count) {
    acc_ |= static_cast<uint64_t>(value) << filled_;
    filled_ += count;
    for (; filled_ >= 8; filled_ -= 8, acc_ >>= 8) out_.push_back(static_cast<uint8_t>(acc_));
  }
  void code(uint32_t code, int length) {
    uint32_t reversed = 0;
    for (int i = 0; i < length; ++i) reversed = reversed << 1 | (code >> i & 1);
    bits(reversed, length);
  }
  // An empty stored block: pads to a byte boundary exactly as zlib's sync flush does.
  void syncFlush() {
    bits(0, 3);
    if (filled_ > 0) bits(0, 8 - filled_);
    out_.insert(out_.end(), {0x00, 0x00, 0xff, 0xff});
  }

 private:
  std::vector<uint8_t>& out_;
  uint64_t acc_ = 0;
  int filled_ = 0;
};

// One dynamic block for `count` (> 0) zeros: four literal zeros, then copies of 258 bytes at
// distance 4, then literals for the rest; then a sync flush.
// Literal/length code: 285 (length 258) is "0", literal 0 is "10", end of block is "11".
// Distance code: codes 2 and 3 get one bit each, so distance 4 (code 3) is "1".
void appendZeroPiece(uint64_t count, std::vector<uint8_t>& out) {
  BitWriter w(out);
  w.bits(0, 1);   // not the final block
  w.bits(2, 2);   // dynamic Huffman codes
  w.bits(29, 5);  // HLIT: 286 literal/length code lengths follow
  w.bits(3, 5);   // HDIST: 4 distance code lengths
  w.bits(14, 4);  // HCLEN: 18 code length code lengths, enough to reach symbol 1
  // Code length alphabet in its transmission order; symbols 0, 1, 2 and 18 get 2 bits, which
  // makes them the canonical codes 00, 01, 10 and 11.
  constexpr int kOrder[18] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1};
  for (int symbol : kOrder)
    w.bits(symbol == 0 || symbol == 1 || symbol == 2 || symbol == 18 ? 2 : 0, 3);
  auto length = [&](int value) { w.code(static_cast<uint32_t>(value), 2); };
  auto zeroRun = [&](int run) {  // symbol 18: 11..138 zero lengths
    w.code(3, 2);
    w.bits(static_cast<uint32_t>(run - 11), 7);
  };
  length(2);  // literal 0
  zeroRun(138);
  zeroRun(117);                                  // literals 1..255
  length(2);                                     // end of block
  zeroRun(28);                                   // lengths 3..257 (symbols 257..284)
  length(1);                                     // length 258
  for (int value : {0, 0, 1, 1}) length(value);  // distance codes 0..3
  constexpr uint64_t kDistance = 4;
  constexpr uint64_t kMaxCopy = 258;
  const uint64_t literals = std::min(count, kDistance);
  for (uint64_t i = 0; i < literals; ++i) w.code(2, 2);
  uint64_t left = count - literals;
  for (; left >= kMaxCopy; left -= kMaxCopy) {
    w.code(0, 1);
    w.code(1, 1);
  }
  for (; left > 0; --left) w.code(2, 2);
  w.code(3, 2);
  w.syncFlush();
}

}  // namespace

void DeflateDeleter::operator()(z_stream* stream) const {
  deflateEnd(stream);
  delete stream;
}

Result<DeflatePtr> newRawDeflate(int level) {
  auto stream = std::make_unique<z_stream>();
  if (deflateInit2(stream.get(), level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return failed("cannot set up zlib to deflate at level " + std::to_string(level));
  }
  return DeflatePtr(stream.release());
}

ZeroPieces::ZeroPieces() { appendZeroPiece(kPiece, piece_); }

void ZeroPieces::append(uint64_t count, std::vector<uint8_t>& out) const {
  for (uint64_t n = count / kPiece; n > 0; --n) out.insert(out.end(), piece_.begin(), piece_.end());
  if (count % kPiece != 0) appendZeroPiece(count % kPiece, out);
}

Result<ChunkCompressor> ChunkCompressor::create(const DiskView& disk, const ZeroPieces& zeros,
                                                int level) {
  VS_ASSIGN_OR_RETURN(DeflatePtr stream, newRawDeflate(level));
  return ChunkCompressor(disk, zeros, std::move(stream));
}

ChunkCompressor::ChunkCompressor(const DiskView& disk, const ZeroPieces& zeros, DeflatePtr stream)
    : disk_(disk),
      zeros_(zeros),
      stream_(std::move(stream)),
      anchors_(size_t{1} << kAnchorHashBits) {}

bool ChunkCompressor::incompressible(size_t begin, size_t end) {
  const size_t size = end - begin;
  if (size < 4096) return false;
  // Byte entropy first: cheap, and enough for text, code, file system metadata and the like.
  std::array<uint32_t, 256> counts{};
  for (size_t i = begin; i < end; ++i) ++counts[buf_[i]];
  double sum = 0;
  for (uint32_t count : counts) {
    if (count != 0) sum += count * std::log2(static_cast<double>(count));
  }
  const double bitsPerByte = std::log2(static_cast<double>(size)) - sum / static_cast<double>(size);
  return bitsPerByte >= kEntropyToCheck && !hasRepeats(begin, end);
}

// Random-looking bytes can still repeat (a copied block of compressed data), and deflate
// shrinks those. Strings of 8 bytes at every kAnchorStride-th position, from deflate's reach
// before the block on, go into a hash table; every position in the block looks up its own
// string, so a repeat of 24 bytes or more is always seen.
bool ChunkCompressor::hasRepeats(size_t begin, size_t end) {
  std::fill(anchors_.begin(), anchors_.end(), 0);
  const uint8_t* p = buf_.data();
  auto hashAt = [&](size_t at, uint64_t& value) {
    std::memcpy(&value, p + at, 8);
    return static_cast<size_t>((value * 0x9e3779b97f4a7c15ULL) >> (64 - kAnchorHashBits));
  };
  uint64_t value;
  for (size_t at = begin > kReach ? begin - kReach : 0; at + 8 <= begin; at += kAnchorStride) {
    anchors_[hashAt(at, value)] = static_cast<uint32_t>(at + 1);
  }
  size_t hits = 0;
  for (size_t j = begin; j + 8 <= end; ++j) {
    const size_t hash = hashAt(j, value);
    if (const uint32_t anchor = anchors_[hash]; anchor != 0 && j - (anchor - 1) <= kReach) {
      uint64_t seen;
      std::memcpy(&seen, p + anchor - 1, 8);
      hits += seen == value ? 1 : 0;
    }
    if ((j - begin) % kAnchorStride == 0) anchors_[hash] = static_cast<uint32_t>(j + 1);
  }
  // Each hit stands for about kAnchorStride repeated bytes.
  return hits * kAnchorStride * 100 >= (end - begin) * kMinRepeatPercent;
}

ChunkCompressor::Kind ChunkCompressor::classify(size_t begin, size_t end) {
  if (end - begin == kBlock && isAllZero(buf_.data() + begin, kBlock)) return Kind::kZeros;
  return incompressible(begin, end) ? Kind::kStored : Kind::kDeflated;
}

Status ChunkCompressor::emit(Kind kind, size_t dictFloor, size_t begin, size_t end,
                             std::vector<uint8_t>& out) {
  if (kind == Kind::kZeros) {
    zeros_.append(end - begin, out);
    return {};
  }
  if (kind == Kind::kStored) {
    appendStored(buf_.data() + begin, end - begin, out);
    return {};
  }
  z_stream* stream = stream_.get();
  if (deflateReset(stream) != Z_OK) return failed("cannot reset zlib's deflate state");
  const size_t dictStart = std::max<size_t>(dictFloor, begin > kWindow ? begin - kWindow : 0);
  if (dictStart < begin && deflateSetDictionary(stream, buf_.data() + dictStart,
                                                static_cast<uInt>(begin - dictStart)) != Z_OK) {
    return failed("zlib refused a deflate dictionary");
  }
  return deflateSynced(stream, buf_.data() + begin, end - begin, out);
}

Result<uint32_t> ChunkCompressor::compress(const DeflateJob& job, std::vector<uint8_t>& out) {
  out.clear();
  const size_t dict = static_cast<size_t>(job.dictLength);
  const size_t end = dict + static_cast<size_t>(job.length);
  if (buf_.size() < end) buf_.resize(end);
  const uint64_t base = job.offset - job.dictLength;  // guest offset of buf_[0]
  VS_RETURN_IF_ERROR(disk_.read(base, std::span<uint8_t>(buf_.data(), end)));

  uint32_t crc = 0;
  size_t dictFloor = 0;  // zeros make a useless dictionary
  size_t runStart = dict;
  Kind runKind = Kind::kDeflated;
  auto finishRun = [&](size_t runEnd) -> Status {
    VS_RETURN_IF_ERROR(emit(runKind, dictFloor, runStart, runEnd, out));
    if (runKind == Kind::kZeros) {
      crc = crc32ExtendZeros(crc, runEnd - runStart);
    } else {
      crc = static_cast<uint32_t>(
          crc32(crc, buf_.data() + runStart, static_cast<uInt>(runEnd - runStart)));
    }
    if (runKind == Kind::kZeros) dictFloor = runEnd;
    return {};
  };
  for (size_t at = dict; at < end;) {
    const size_t blockEnd =
        std::min<size_t>(end, at + static_cast<size_t>(kBlock - (base + at) % kBlock));
    const Kind kind = classify(at, blockEnd);
    if (at == dict) {
      runKind = kind;
    } else if (kind != runKind) {
      VS_RETURN_IF_ERROR(finishRun(at));
      runStart = at;
      runKind = kind;
    }
    at = blockEnd;
  }
  if (runStart < end) VS_RETURN_IF_ERROR(finishRun(end));
  return crc;
}

}  // namespace virtscratch::image
