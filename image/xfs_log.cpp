#include "image/xfs_log.h"

#include <array>
#include <cstring>
#include <string>

#include "base/big_endian.h"

namespace virtscratch::image {
namespace {

// Offsets in struct xfs_dsb (xfs_format.h); every field is big-endian.
constexpr size_t kMagic = 0;
constexpr size_t kBlockSize = 4;
constexpr size_t kDataBlocks = 8;
constexpr size_t kLogStart = 48;
constexpr size_t kAgBlocks = 84;
constexpr size_t kLogBlocks = 96;
constexpr size_t kAgBlockLog = 124;
constexpr size_t kRead = 128;

}  // namespace

Result<Extent> xfsLogRange(int fd) {
  std::array<uint8_t, kRead> sb{};
  VS_RETURN_IF_ERROR(
      readAll(fd, sb.data(), sb.size(), 0).withContext("reading the xfs superblock"));
  if (std::memcmp(&sb[kMagic], "XFSB", 4) != 0) {
    return failed("no xfs superblock where mkfs.xfs wrote one");
  }
  uint64_t blockSize = big_endian::load32(&sb[kBlockSize]);
  uint64_t dataBlocks = big_endian::load64(&sb[kDataBlocks]);
  uint64_t logStart = big_endian::load64(&sb[kLogStart]);
  uint64_t agBlocks = big_endian::load32(&sb[kAgBlocks]);
  uint64_t logBlocks = big_endian::load32(&sb[kLogBlocks]);
  unsigned agBlockLog = sb[kAgBlockLog];
  if (logStart == 0) return failed("the xfs filesystem has an external log");
  if (blockSize == 0 || agBlockLog == 0 || agBlockLog >= 32) {
    return failed("the xfs superblock gives no usable block size or allocation-group size");
  }
  // logStart is an xfs_fsblock_t: the allocation group in the high bits, the block in the low.
  uint64_t block = (logStart >> agBlockLog) * agBlocks + (logStart & ((1ULL << agBlockLog) - 1));
  if (block + logBlocks > dataBlocks) {
    return failed("the xfs log (block " + std::to_string(block) + ", " + std::to_string(logBlocks) +
                  " blocks) lies outside the filesystem");
  }
  return Extent{block * blockSize, logBlocks * blockSize};
}

}  // namespace virtscratch::image
