// Filling xfs from a host directory. xfsprogs 6.1 has no "copy this directory" option; mkfs.xfs
// takes a protofile instead (mkfs.xfs(8), -p): a token list of names, modes, owners and, for
// regular files, the host path to read.
//
// What the protofile can and cannot carry:
// - directories, regular files, symlinks, fifos, block and character devices, with mode bits,
//   setuid/setgid and numeric uid/gid. Sockets have no protofile type and are refused.
// - the sticky bit has no place in the mode token; it is set afterwards with xfs_db -x.
// - times are not carried: files get the time of mkfs (xfsprogs 6.1 sets no timestamps).
// - hard links become separate copies; extended attributes are not copied.
// - tokens are split at whitespace and a token starting with ':' is a comment, so names with
//   whitespace, names starting with ':' and the name '$' (which ends a directory) are refused.
// Note that mkfs.xfs 6.1 reads each regular file into memory whole (peak RSS about twice the
// largest file), in its own process.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "base/status.h"

namespace virtscratch::image {

// A mode the protofile could not express, to set afterwards. `path` is absolute in the new
// filesystem ("/" for the root).
struct XfsModeFixup {
  std::string path;
  mode_t mode = 0;  // with the file type bits, as xfs_db writes core.mode
};

// Writes the protofile for the directory `rootFd` into `outFd`, streaming (memory does not grow
// with the tree). Regular files are named `rootPath + "/" + relative path`, where `rootPath` is
// a path that mkfs.xfs can open to reach `rootFd` (procPathOf(rootFd)). Content the protofile
// cannot express is refused with kInvalidArgument naming the file.
Result<std::vector<XfsModeFixup>> writeXfsProtofile(int rootFd, const std::string& rootPath,
                                                    int outFd);

// Sets the modes with xfs_db -x on the (unmounted) filesystem at `devicePath`.
Status applyXfsModeFixups(const std::string& devicePath, const std::vector<XfsModeFixup>& fixups);

}  // namespace virtscratch::image
