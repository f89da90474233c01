// Filling vfat from a host directory with mtools' mcopy (no mount, no loop device).
//
// vfat stores directories and regular files only, with their modification times; it cannot store
// modes, owners, symlinks, device files, fifos or sockets, files of 4 GiB or more, or two names
// in one directory that differ only in case. mcopy fails on such content silently or renames it,
// so everything is checked first and refused with a message naming the file. Names must be
// printable ASCII: the tools run in the C locale, where mtools would garble other characters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace virtscratch::image {

// Checks the content below `rootFd` (opened from `contentDir`, which messages name) against the
// rules above, without touching any image, and returns the names of its top-level entries.
// kInvalidArgument naming the first file that vfat cannot hold.
Result<std::vector<std::string>> checkVfatContent(int rootFd, const std::string& contentDir);

// Copies the top-level entries `names` of `rootFd` (and all below them) into the root of the vfat
// filesystem at `devicePath`, made already with `size` bytes (for the message when the content
// does not fit). kInvalidArgument when it does not fit.
Status copyVfatContent(int rootFd, const std::string& contentDir,
                       const std::vector<std::string>& names, const std::string& devicePath,
                       uint64_t size);

}  // namespace virtscratch::image
