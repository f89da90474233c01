// One-partition MBR and GPT tables written with libfdisk (util-linux), and read back for `info`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/spec.h"

namespace virtscratch::image {

struct PartitionPlan {
  uint64_t offset = 0;  // bytes from the start of the disk
  uint64_t size = 0;    // bytes
};

// Where the single partition goes on a disk of `diskSize` bytes: from 1 MiB to the last MiB
// boundary that leaves room for the GPT backup table. Fails when that leaves no room.
Result<PartitionPlan> planPartition(PartitionTable table, uint64_t diskSize);

// Writes the table into `fd`, a file of exactly `diskSize` bytes: one partition as `plan` says,
// its type from the filesystem (mbrPartitionType/gptPartitionType), and on GPT the label as the
// partition name. 512-byte sectors.
Status writePartitionTable(int fd, PartitionTable table, uint64_t diskSize, Filesystem fs,
                           std::string_view label, const PartitionPlan& plan);

struct PartitionInfo {
  int number = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  std::string type;  // GPT type GUID, upper case; MBR type as "0x83"
  std::string name;  // GPT partition name; empty on MBR
  std::string uuid;  // GPT partition UUID; MBR "<disk id>-<nn>"
};

struct PartitionTableInfo {
  PartitionTable table = PartitionTable::kNone;
  std::string id;  // disk GUID (GPT) or disk identifier "0x1234abcd" (MBR)
  std::vector<PartitionInfo> partitions;
};

// Reads the partition table of the disk in `fd` (`diskSize` bytes). No table: table == kNone.
Result<PartitionTableInfo> readPartitionTable(int fd, uint64_t diskSize);

}  // namespace virtscratch::image
