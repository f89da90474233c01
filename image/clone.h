// Clones of images whose filesystems never share a UUID: a reflink (FICLONE) where the host
// filesystem shares blocks, otherwise a copy of the data extents only; or, with `backing`, a
// qcow2 overlay on the source that holds just the blocks the new UUID changed. Where the new
// identities are a few fields (ext4 as virt-scratch makes it, ext2/3, vfat, swap; an MBR or GPT
// whose copies check out) the source file itself is copied and those bytes rewritten in it
// (clone_in_place.h), so the cost does not grow with the filesystem's size; otherwise the guest's
// bytes go through a raw working copy on which the filesystems' tools run.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "base/progress.h"
#include "base/status.h"
#include "image/open_image.h"

namespace virtscratch::image {

struct CloneOptions {
  OpenOptions source;          // how the source is opened: its format and backing policy
  bool backing = false;        // a qcow2 overlay whose backing file is the source
  bool force = false;          // replace an existing destination
  std::string filesystemUuid;  // the clone's filesystem UUID; empty: random
  ProgressSink* progress = nullptr;
  std::optional<mode_t> mode;  // the clone's mode exactly; unset: 0666 less the umask
};

// Clones the image open as `srcFd` (raw or qcow2; `srcPath` names it in messages and, for
// overlays, in the overlay's header, so give it as the overlay should refer to it) to `dstName`
// in the directory `dstDirFd`. The clone has the source's format (an overlay is always qcow2),
// virtual size, partition table and content, and every filesystem in it a new UUID
// (tune2fs/xfs_admin/btrfstune/vfat volume id/swap UUID). Built unnamed, named when complete.
Status cloneImageAt(int srcFd, const std::string& srcPath, int dstDirFd, std::string_view dstName,
                    const CloneOptions& options);

Status cloneImage(const std::string& srcPath, const std::string& dstPath,
                  const CloneOptions& options);

}  // namespace virtscratch::image
