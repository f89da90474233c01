#include "image/xfs_log.h"

#include <array>
#include <cstring>
#include <string>

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

uint64_t loadBe(const uint8_t* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

Result<Extent> xfsLogRange(int fd) {
  std::array<uint8_t, kRead> sb{};
  VS_RETURN_IF_ERROR(
      readAll(fd, sb.data(), sb.size(), 0).withContext("reading the xfs superblock"));
  if (std::memcmp(&sb[kMagic], "XFSB", 4) != 0) {
    return failed("no xfs superblock where mkfs.xfs wrote one");
  }
  uint64_t blockSize = loadBe(&sb[kBlockSize], 4);
  uint64_t dataBlocks = loadBe(&sb[kDataBlocks], 8);
  uint64_t logStart = loadBe(&sb[kLogStart], 8);
  uint64_t agBlocks = loadBe(&sb[kAgBlocks], 4);
  uint64_t logBlocks = loadBe(&sb[kLogBlocks], 4);
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
