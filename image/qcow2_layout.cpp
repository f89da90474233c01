#include "image/qcow2_layout.h"

#include <algorithm>

namespace virtscratch::image::qcow2 {
namespace {

constexpr uint64_t kSectorSize = 512;

uint64_t divRoundUp(uint64_t a, uint64_t b) { return a / b + (a % b != 0 ? 1 : 0); }

std::vector<ClusterRun> planRuns(uint64_t guestClusters, bool preallocate,
                                 std::span<const SourceExtent> extents) {
  if (preallocate) return {{0, guestClusters, 0}};
  std::vector<ClusterRun> runs;
  for (const SourceExtent& e : extents) {
    if (e.length == 0) continue;
    uint64_t first = e.guestOffset >> kWriterClusterBits;
    uint64_t end = divRoundUp(e.guestOffset + e.length, kWriterClusterSize);
    // Extents sharing a cluster, or in adjacent clusters, continue the same run.
    if (!runs.empty() && first <= runs.back().end) {
      runs.back().end = std::max(runs.back().end, end);
    } else {
      uint64_t rank = runs.empty() ? 0 : runs.back().rank + (runs.back().end - runs.back().first);
      runs.push_back({first, end, rank});
    }
  }
  return runs;
}

uint64_t countL2Tables(const std::vector<ClusterRun>& runs) {
  uint64_t tables = 0;
  bool haveLast = false;
  uint64_t lastTable = 0;
  for (const ClusterRun& run : runs) {
    uint64_t first = run.first / kWriterL2Entries;
    uint64_t last = (run.end - 1) / kWriterL2Entries;
    if (haveLast && first == lastTable) ++first;
    if (last >= first) tables += last - first + 1;
    haveLast = true;
    lastTable = last;
  }
  return tables;
}

}  // namespace

Layout planLayout(uint64_t virtualSize, bool preallocate, std::span<const SourceExtent> extents,
                  uint64_t cryptoBytes) {
  Layout l;
  l.cryptoClusters = divRoundUp(cryptoBytes, kWriterClusterSize);
  l.headerSize = divRoundUp(virtualSize, kSectorSize) * kSectorSize;
  l.guestClusters = divRoundUp(l.headerSize, kWriterClusterSize);
  l.l1Entries = divRoundUp(l.guestClusters, kWriterL2Entries);
  l.l1Clusters = divRoundUp(l.l1Entries * 8, kWriterClusterSize);
  l.runs = planRuns(l.guestClusters, preallocate, extents);
  l.l2Tables = countL2Tables(l.runs);
  if (!l.runs.empty())
    l.dataClusters = l.runs.back().rank + l.runs.back().end - l.runs.back().first;
  // The refcount blocks count themselves and the table that points to them: grow both until
  // they cover every cluster. Both only grow, so this ends within a few rounds.
  uint64_t fixed = 1 + l.cryptoClusters + l.l1Clusters + l.l2Tables + l.dataClusters;
  l.refcountBlocks = 1;
  l.refcountTableClusters = 1;
  for (;;) {
    uint64_t total = fixed + l.refcountTableClusters + l.refcountBlocks;
    uint64_t blocks = divRoundUp(total, kWriterRefcountsPerBlock);
    uint64_t tableClusters = divRoundUp(blocks * 8, kWriterClusterSize);
    if (blocks <= l.refcountBlocks && tableClusters <= l.refcountTableClusters) break;
    l.refcountBlocks = std::max(blocks, l.refcountBlocks);
    l.refcountTableClusters = std::max(tableClusters, l.refcountTableClusters);
  }
  l.totalClusters = fixed + l.refcountTableClusters + l.refcountBlocks;
  return l;
}

}  // namespace virtscratch::image::qcow2
