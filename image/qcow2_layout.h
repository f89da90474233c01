// Where the qcow2 writer puts everything. The file is laid out front to back, every cluster used
// once (refcount 1):
//   header | LUKS header (encrypted images) | L1 table | refcount table | refcount blocks |
//   L2 tables | data clusters
// The data clusters are the guest clusters that hold extent bytes (every guest cluster when
// preallocating), in guest order, so consecutive guest clusters are one contiguous host range
// and each extent is a single copy. Planning costs O(extents), never O(virtual size).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "image/qcow2_writer.h"

namespace virtscratch::image::qcow2 {

inline constexpr uint32_t kWriterClusterBits = 16;
inline constexpr uint64_t kWriterClusterSize = uint64_t{1} << kWriterClusterBits;
inline constexpr uint64_t kWriterL2Entries = kWriterClusterSize / 8;
inline constexpr uint32_t kWriterRefcountOrder = 4;  // 16-bit refcounts, QEMU's default
inline constexpr uint64_t kWriterRefcountsPerBlock = kWriterClusterSize / 2;
// QEMU refuses L1 tables above 32 MiB: 4 Mi L2 tables of 512 MiB each.
inline constexpr uint64_t kWriterMaxVirtualSize =
    uint64_t{32} * 1024 * 1024 / 8 * kWriterL2Entries * kWriterClusterSize;

// Consecutive guest clusters [first, end) holding data: the data clusters
// [rank, rank + end - first) of the data area.
struct ClusterRun {
  uint64_t first = 0;
  uint64_t end = 0;
  uint64_t rank = 0;
};

struct Layout {
  uint64_t headerSize = 0;      // the virtual size rounded up to sectors, as qemu-img does
  uint64_t cryptoClusters = 0;  // the LUKS header and key material of an encrypted image
  uint64_t guestClusters = 0;
  uint64_t l1Entries = 0;
  uint64_t l1Clusters = 0;
  uint64_t refcountTableClusters = 0;
  uint64_t refcountBlocks = 0;
  uint64_t l2Tables = 0;
  uint64_t dataClusters = 0;
  uint64_t totalClusters = 0;
  std::vector<ClusterRun> runs;  // sorted, disjoint, not adjacent

  uint64_t cryptoOffset() const { return kWriterClusterSize; }
  uint64_t l1Offset() const { return (1 + cryptoClusters) * kWriterClusterSize; }
  uint64_t refcountTableOffset() const { return l1Offset() + l1Clusters * kWriterClusterSize; }
  uint64_t refcountBlocksOffset() const {
    return refcountTableOffset() + refcountTableClusters * kWriterClusterSize;
  }
  uint64_t l2Offset() const { return refcountBlocksOffset() + refcountBlocks * kWriterClusterSize; }
  uint64_t dataOffset() const { return l2Offset() + l2Tables * kWriterClusterSize; }
  uint64_t fileSize() const { return totalClusters * kWriterClusterSize; }
  // The host offset of guest byte `guestOffset`, which must lie in `run`.
  uint64_t hostOffset(const ClusterRun& run, uint64_t guestOffset) const {
    return dataOffset() + run.rank * kWriterClusterSize +
           (guestOffset - run.first * kWriterClusterSize);
  }
};

// `extents` must already be validated (sorted, disjoint, inside the virtual size, which is at
// most kWriterMaxVirtualSize); empty extents are skipped. `cryptoBytes` (0 when not encrypted)
// is reserved after the header for the LUKS header.
Layout planLayout(uint64_t virtualSize, bool preallocate, std::span<const SourceExtent> extents,
                  uint64_t cryptoBytes = 0);

}  // namespace virtscratch::image::qcow2
