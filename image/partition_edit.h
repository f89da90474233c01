// Changes to an existing MBR or GPT partition table in a raw disk file, with libfdisk: growing
// the last partition after the file grew, and new identifiers for a clone.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace virtscratch::image {

struct PartitionGrowth {
  bool grown = false;
  int number = 0;  // 1-based, as sfdisk and blkid number partitions
  uint64_t offset = 0;
  uint64_t size = 0;        // after the change
  std::string notGrownWhy;  // for people, when a partition exists but was not grown
};

// Rewrites the table of the disk in `fd`, a raw file that has already been given its new size:
// a GPT's backup header and entries move to the new end (and its last usable sector with them),
// and the partition that ends last grows to end at the last MiB boundary before the end (GPT:
// before the backup; MBR: at most 2 TiB). A table with no partitions is only rewritten.
Result<PartitionGrowth> growLastPartition(int fd);

// Gives the disk a new identifier (GPT disk GUID, MBR disk id) and every GPT partition a new
// partition GUID, so that a clone's PARTUUIDs do not repeat its source's.
Status renewPartitionIds(int fd);

}  // namespace virtscratch::image
