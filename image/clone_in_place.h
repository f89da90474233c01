// Clones without a raw working copy of the guest's disk. When every identity a clone renews is a
// few fields this process rewrites itself (filesystem_uuid_edits.h, partition_id_edits.h), the
// clone is the source file copied as it is (a reflink where the host filesystem shares
// blocks, else its data extents) with those bytes rewritten where the source stores them, or, for
// an overlay, a qcow2 that holds only the clusters they fall in. Its cost is then the copy of the
// source file alone, whatever the size of the filesystem in it: what a template's clones need.
#pragma once

#include <optional>
#include <string>

#include "base/status.h"
#include "base/temp_file.h"
#include "image/clone.h"
#include "image/disk_view.h"

namespace virtscratch::image {

// Makes the clone of `view` (open on `srcFd`, named `srcPath`) that cloneImageAt describes as an
// unnamed file in `dstDirFd`, for the caller to name. nullopt, having made nothing, when the
// source is not one this way serves (a filesystem that needs its own tool, a partition table
// whose copies do not check out, bytes not stored plainly, an encrypted source, a copy of a
// qcow2 that has a backing file).
Result<std::optional<TempFile>> cloneInPlace(int srcFd, const DiskView& view,
                                             const std::string& srcPath, int dstDirFd,
                                             const CloneOptions& options);

}  // namespace virtscratch::image
