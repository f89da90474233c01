#include "image/gzip_import.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/little_endian.h"
#include "image/gzip_sparse_io.h"
#include "image/gzip_zeros.h"
#include "image/size.h"

namespace virtscratch::image {
namespace {

constexpr size_t kInputCapacity = 4 * kMiB;
constexpr size_t kOutputCapacity = 4 * kMiB;
constexpr uint64_t kWindow = 32 * kKiB;  // deflate's history
// A deflate block that decodes to at least kMemoMinOutput zeros is remembered (its bits, up to
// kMemoMaxBits), and when the same bits come again they are stepped over instead of decoded:
// gzip, pigz and virt-scratch export all write a long run of zeros as one block over and over.
constexpr uint64_t kMemoMinOutput = 64 * kKiB;
constexpr uint64_t kMemoMaxBits = 8 * 256 * kKiB;
constexpr size_t kMemoEntries = 4;

struct InflateDeleter {
  void operator()(z_stream* stream) const {
    inflateEnd(stream);
    delete stream;
  }
};
using InflatePtr = std::unique_ptr<z_stream, InflateDeleter>;

std::string hexBytes(const uint8_t* data, size_t n) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, i == 0 ? "%02x" : " %02x", data[i]);
    out += buf;
  }
  return out;
}

Status endsEarly(uint64_t offset, int member) {
  return invalidArgument("the gzip stream ends early at compressed offset " +
                         std::to_string(offset) + " (member " + std::to_string(member) +
                         " is incomplete); the file is truncated, copy it again");
}

size_t trailingZeros(const uint8_t* data, size_t size) {
  size_t end = size;
  while (end >= 4096 && isAllZero(data + end - 4096, 4096)) end -= 4096;
  while (end > 0 && data[end - 1] == 0) --end;
  return size - end;
}

// 64 bits of `p` starting `bit` bits in (deflate order: least significant first), reading no
// byte at or past p[limit]; missing bits read as zeros.
uint64_t loadBits(const uint8_t* p, uint64_t bit, size_t limit) {
  const size_t byte = static_cast<size_t>(bit / 8);
  const unsigned shift = static_cast<unsigned>(bit % 8);
  uint64_t value = 0;
  if (byte + 9 <= limit) {
    std::memcpy(&value, p + byte, 8);
    value >>= shift;
    if (shift != 0) value |= static_cast<uint64_t>(p[byte + 8]) << (64 - shift);
    return value;
  }
  for (size_t i = 0; i < 9 && byte + i < limit; ++i) {
    const uint64_t b = p[byte + i];
    value |= i == 0 ? b >> shift : b << (8 * i - shift);
  }
  return value;
}

// A deflate block that decoded to `outLength` zeros while the window held only zeros: the same
// bits decode to the same zeros again, at whatever bit alignment they come.
struct ZeroBlock {
  uint64_t bitLength = 0;
  uint64_t outLength = 0;
  std::vector<uint64_t> words;  // the bits, from the block's first one on

  // Whether the block's bits are at bit `startBit` of p[0, limit).
  bool matches(const uint8_t* p, unsigned startBit, size_t limit) const {
    for (size_t i = 0; i < words.size(); ++i) {
      const uint64_t left = bitLength - 64 * i;
      const uint64_t mask = left >= 64 ? ~uint64_t{0} : (uint64_t{1} << left) - 1;
      if (((loadBits(p, startBit + 64 * i, limit) ^ words[i]) & mask) != 0) return false;
    }
    return true;
  }
};

class Importer {
 public:
  Importer(int inFd, int outFd, ProgressSink* progress, uint64_t total)
      : in_(inFd, kInputCapacity, progress, total), out_(outFd, kOutputCapacity, progress) {}

  Result<uint64_t> run() {
    auto stream = std::make_unique<z_stream>();
    if (inflateInit2(stream.get(), -MAX_WBITS) != Z_OK) {
      return failed("cannot set up zlib to inflate: out of memory");
    }
    stream_ = InflatePtr(stream.release());
    for (int member = 1;; ++member) {
      VS_ASSIGN_OR_RETURN(bool more, in_.ensure(1, in_.offset()));
      if (!more && member > 1) break;
      VS_RETURN_IF_ERROR(readHeader(member));
      VS_RETURN_IF_ERROR(inflateMember(member));
    }
    VS_RETURN_IF_ERROR(out_.finish());
    return out_.size();
  }

 private:
  Status readHeader(int member);
  Status inflateMember(int member);
  Status checkTrailer(int member, uint32_t crc, uint64_t size);
  void remember(uint64_t startBit, uint64_t endBit, uint64_t outLength);
  const ZeroBlock* knownZeroBlockAt(uint64_t startBit);

  GzipInput in_;
  SparseWriter out_;
  InflatePtr stream_;
  std::array<ZeroBlock, kMemoEntries> memo_;
  size_t memoUsed_ = 0;
  size_t memoNext_ = 0;
};

Status Importer::readHeader(int member) {
  const uint64_t start = in_.offset();
  VS_ASSIGN_OR_RETURN(bool whole, in_.ensure(10, start));
  const uint8_t* p = in_.data();
  if (in_.available() < 2 || p[0] != 0x1f || p[1] != 0x8b) {
    if (member == 1) {
      if (in_.available() == 0) {
        return invalidArgument("not a gzip file: the input is empty at offset 0");
      }
      return invalidArgument("not a gzip file: it starts with bytes " +
                             hexBytes(p, std::min<size_t>(in_.available(), 4)) +
                             " at offset 0 instead of the gzip magic 1f 8b; give a .gz file");
    }
    return invalidArgument("unexpected data after gzip member " + std::to_string(member - 1) +
                           " at compressed offset " + std::to_string(start) + " (bytes " +
                           hexBytes(p, std::min<size_t>(in_.available(), 4)) +
                           "): neither another gzip member nor the end of the input");
  }
  if (!whole) return endsEarly(in_.bytesRead(), member);
  if (p[2] != 8) {
    return invalidArgument("gzip member " + std::to_string(member) + " at compressed offset " +
                           std::to_string(start) + " uses compression method " +
                           std::to_string(p[2]) + "; only 8 (deflate) exists");
  }
  const uint8_t flags = p[3];
  if ((flags & 0xe0) != 0) {
    return invalidArgument("gzip member " + std::to_string(member) + " at compressed offset " +
                           std::to_string(start) + " has reserved header flags set (" +
                           std::to_string(flags) + "); the file is corrupt");
  }
  uint32_t headerCrc = 0;
  auto take = [&](size_t n) {
    headerCrc = static_cast<uint32_t>(crc32(headerCrc, in_.data(), static_cast<uInt>(n)));
    in_.consume(n);
  };
  take(10);
  if ((flags & 0x04) != 0) {  // FEXTRA: a length, then that many bytes
    VS_ASSIGN_OR_RETURN(bool have, in_.ensure(2, start));
    if (!have) return endsEarly(in_.bytesRead(), member);
    size_t length = in_.data()[0] | static_cast<size_t>(in_.data()[1]) << 8;
    take(2);
    VS_ASSIGN_OR_RETURN(have, in_.ensure(length, start));
    if (!have) return endsEarly(in_.bytesRead(), member);
    take(length);
  }
  for (uint8_t stringFlag : {uint8_t{0x08}, uint8_t{0x10}}) {  // FNAME, FCOMMENT: zero-ended
    if ((flags & stringFlag) == 0) continue;
    for (;;) {
      const void* nul = std::memchr(in_.data(), 0, in_.available());
      if (nul != nullptr) {
        take(static_cast<size_t>(static_cast<const uint8_t*>(nul) - in_.data()) + 1);
        break;
      }
      take(in_.available());
      VS_ASSIGN_OR_RETURN(bool more, in_.readMore(in_.offset()));
      if (!more) return endsEarly(in_.bytesRead(), member);
    }
  }
  if ((flags & 0x02) != 0) {  // FHCRC: the low 16 bits of the CRC-32 of the header so far
    VS_ASSIGN_OR_RETURN(bool have, in_.ensure(2, in_.offset()));
    if (!have) return endsEarly(in_.bytesRead(), member);
    unsigned stored = in_.data()[0] | static_cast<unsigned>(in_.data()[1]) << 8;
    if (stored != (headerCrc & 0xffff)) {
      return invalidArgument("header CRC mismatch in gzip member " + std::to_string(member) +
                             " at compressed offset " + std::to_string(in_.offset()) +
                             "; the file is corrupt");
    }
    in_.consume(2);
  }
  return {};
}

Status Importer::checkTrailer(int member, uint32_t crc, uint64_t size) {
  VS_ASSIGN_OR_RETURN(bool have, in_.ensure(8, in_.offset()));
  if (!have) return endsEarly(in_.bytesRead(), member);
  const uint32_t storedCrc = little_endian::load32(in_.data());
  const uint32_t storedSize = little_endian::load32(in_.data() + 4);
  in_.consume(8);
  char detail[64];
  if (storedCrc != crc) {
    std::snprintf(detail, sizeof detail, " (stored %08x, data has %08x)", storedCrc, crc);
    return invalidArgument("CRC mismatch in member " + std::to_string(member) +
                           " ending at compressed offset " + std::to_string(in_.offset()) + detail +
                           "; the file is corrupt");
  }
  if (storedSize != static_cast<uint32_t>(size)) {
    return invalidArgument(
        "length mismatch in member " + std::to_string(member) + " ending at compressed offset " +
        std::to_string(in_.offset()) + ": the trailer says " + std::to_string(storedSize) +
        " bytes (mod 2^32), the data has " + std::to_string(size) + "; the file is corrupt");
  }
  return {};
}

void Importer::remember(uint64_t startBit, uint64_t endBit, uint64_t outLength) {
  const uint64_t firstByte = startBit / 8;
  const uint64_t endByte = (endBit + 7) / 8;
  if (!in_.holds(firstByte) || !in_.holds(endByte)) return;
  const uint8_t* p = in_.pointerTo(firstByte);
  const auto align = static_cast<unsigned>(startBit % 8);
  const auto limit = static_cast<size_t>(endByte - firstByte);
  for (size_t i = 0; i < memoUsed_; ++i) {
    if (memo_[i].bitLength == endBit - startBit && memo_[i].matches(p, align, limit)) return;
  }
  ZeroBlock& entry = memo_[memoNext_];
  memoNext_ = (memoNext_ + 1) % kMemoEntries;
  memoUsed_ = std::max(memoUsed_, memoNext_ == 0 ? kMemoEntries : memoNext_);
  entry.bitLength = endBit - startBit;
  entry.outLength = outLength;
  entry.words.resize(static_cast<size_t>((entry.bitLength + 63) / 64));
  for (size_t i = 0; i < entry.words.size(); ++i) {
    entry.words[i] = loadBits(p, align + 64 * i, limit);
  }
  const uint64_t tailBits = entry.bitLength % 64;
  if (tailBits != 0) entry.words.back() &= (uint64_t{1} << tailBits) - 1;
}

const ZeroBlock* Importer::knownZeroBlockAt(uint64_t startBit) {
  const uint64_t firstByte = startBit / 8;
  for (size_t i = 0; i < memoUsed_; ++i) {
    const ZeroBlock& entry = memo_[i];
    const uint64_t endByte = (startBit + entry.bitLength + 7) / 8;
    auto have = in_.ensure(static_cast<size_t>(endByte - in_.offset()), firstByte);
    if (!have.ok() || !*have) continue;  // a read error shows again on the next read
    if (entry.matches(in_.pointerTo(firstByte), static_cast<unsigned>(startBit % 8),
                      static_cast<size_t>(endByte - firstByte))) {
      return &entry;
    }
  }
  return nullptr;
}

Status Importer::inflateMember(int member) {
  z_stream* s = stream_.get();
  if (inflateReset(s) != Z_OK) return failed("cannot reset zlib's inflate state");
  uint32_t crc = 0;
  uint64_t size = 0;
  uint64_t zeroTail = 0;                   // zeros at the end of the member's output so far
  uint64_t blockStart = in_.offset() * 8;  // bit position where the current block begins
  bool blockAfterZeros = false;            // the window held only zeros when the block began
  bool blockAllZero = true;
  uint64_t blockOut = 0;
  for (;;) {
    if (in_.available() == 0) {
      VS_ASSIGN_OR_RETURN(bool more, in_.readMore(blockStart / 8));
      if (!more) return endsEarly(in_.bytesRead(), member);
    }
    std::span<uint8_t> space = out_.space();
    s->next_in = const_cast<Bytef*>(in_.data());
    s->avail_in = static_cast<uInt>(std::min<size_t>(in_.available(), UINT_MAX));
    s->next_out = space.data();
    s->avail_out = static_cast<uInt>(space.size());
    const int ret = inflate(s, Z_BLOCK);
    in_.consume(static_cast<size_t>(s->next_in - in_.data()));
    const size_t produced = static_cast<size_t>(s->next_out - space.data());
    if (produced > 0) {
      const uint8_t* data = space.data();
      if (isAllZero(data, produced)) {
        crc = crc32ExtendZeros(crc, produced);
        zeroTail += produced;
      } else {
        blockAllZero = false;
        crc = static_cast<uint32_t>(crc32(crc, data, static_cast<uInt>(produced)));
        zeroTail = trailingZeros(data, produced);
      }
      size += produced;
      blockOut += produced;
      VS_RETURN_IF_ERROR(out_.commit(produced));
    }
    if (ret == Z_STREAM_END) break;
    if (ret == Z_DATA_ERROR) {
      return invalidArgument("corrupt deflate data in member " + std::to_string(member) +
                             " at compressed offset " + std::to_string(in_.offset()) + " (" +
                             (s->msg != nullptr ? s->msg : "invalid data") +
                             "); the file is damaged");
    }
    if (ret == Z_MEM_ERROR) return failed("zlib ran out of memory while inflating");
    if (ret != Z_OK) return failed("zlib inflate failed with code " + std::to_string(ret));
    if ((s->data_type & 128) == 0 || (s->data_type & 64) != 0) continue;
    // Between two blocks, and not after the last one.
    const uint64_t blockEnd = in_.offset() * 8 - static_cast<unsigned>(s->data_type & 7);
    if (blockAfterZeros && blockAllZero && blockOut >= kMemoMinOutput &&
        blockEnd - blockStart <= kMemoMaxBits) {
      remember(blockStart, blockEnd, blockOut);
    }
    blockStart = blockEnd;
    blockOut = 0;
    blockAllZero = true;
    blockAfterZeros = zeroTail >= kWindow;
    while (blockAfterZeros) {
      const ZeroBlock* known = knownZeroBlockAt(blockStart);
      if (known == nullptr) break;
      // Decoding it would only append zeros to a window of zeros: step over its bits instead
      // and hand zlib the rest of the byte the block ends in.
      blockStart += known->bitLength;
      inflatePrime(s, -1, 0);
      in_.consume(static_cast<size_t>(blockStart / 8 - in_.offset()));
      if (const unsigned bit = blockStart % 8; bit != 0) {
        inflatePrime(s, static_cast<int>(8 - bit), in_.data()[0] >> bit);
        in_.consume(1);
      }
      crc = crc32ExtendZeros(crc, known->outLength);
      zeroTail += known->outLength;
      size += known->outLength;
      VS_RETURN_IF_ERROR(out_.skipZeros(known->outLength));
    }
  }
  return checkTrailer(member, crc, size);
}

}  // namespace

Result<uint64_t> importGzip(int inFd, int outFd, const ImportOptions& options) {
  struct stat inStat {};
  if (fstat(inFd, &inStat) != 0) return errnoStatus("stat the gzip input", errno);
  struct stat outStat {};
  if (fstat(outFd, &outStat) != 0) return errnoStatus("stat the import target", errno);
  if (!S_ISREG(outStat.st_mode) || outStat.st_size != 0) {
    return invalidArgument("the import target must be an empty regular file (it has " +
                           std::to_string(outStat.st_size) + " bytes)");
  }
  const uint64_t total = S_ISREG(inStat.st_mode) ? static_cast<uint64_t>(inStat.st_size) : 0;
  Importer importer(inFd, outFd, options.progress, total);
  return importer.run();
}

}  // namespace virtscratch::image
