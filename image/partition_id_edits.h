// New identifiers for a partition table, worked out in this process from reads of the disk, as
// renewPartitionIds (partition_edit.h) gives them with libfdisk on a raw file: an MBR's disk id;
// a GPT's disk GUID and every partition's GUID, in both headers and both entry arrays, with
// their CRC32s. The caller writes the edits, so that they serve a raw file, the clusters of a
// qcow2 image and an overlay alike (clone_in_place.h).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/status.h"
#include "image/filesystem_uuid_edits.h"
#include "image/guest_copy.h"
#include "image/spec.h"

namespace virtscratch::image {

// The edits for the `table` of the disk of `size` bytes that `read` reads (512-byte sectors).
// nullopt when the table is not one whose every copy checks out (signatures, header and entry
// array CRCs, a backup that matches the primary): libfdisk then does the work, or says what is
// wrong.
Result<std::optional<std::vector<ByteEdit>>> partitionIdEdits(const ByteReader& read, uint64_t size,
                                                              PartitionTable table);

}  // namespace virtscratch::image
