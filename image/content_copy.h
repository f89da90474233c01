// Copying a content tree from a directory descriptor into another, for a process that reads on
// someone else's behalf (the daemon, as root, for its caller). Every entry is opened relative to
// its parent's descriptor with O_NOFOLLOW and O_PATH, its type taken from fstat of that
// descriptor and only then reopened for reading (through /proc/self/fd, the same inode), so:
// - a symlink is never followed, whenever it is swapped in: it is copied as a symlink, its target
//   read with readlinkat as text;
// - a FIFO is never opened (no hang), nor a device (no side effect of open);
// - `check` sees each directory and regular file through the descriptor the data comes from.
// What is kept: directories, regular files (data copied in the kernel, holes kept), symlinks,
// hard links among the copied files, owners, modes (setuid, setgid, sticky) and times. Extended
// attributes are not copied. FIFOs, sockets and device nodes are refused. Any thread.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace virtscratch::image {

struct CopiedEntry {
  std::string_view path;  // relative to the source root ("" for the root itself)
  int fd;                 // opened for reading (O_RDONLY); -1 for symlinks
  const struct stat& st;
};

// Says whether the entry may be copied; any error stops the copy and is returned as it is.
using CopyCheck = std::function<Status(const CopiedEntry& entry)>;

// Copies everything below `sourceFd` (the root itself checked too) into the empty directory
// `targetFd`, whose mode, owner and times become the source root's. On error the target holds
// a partial copy: the caller removes it. An entry that disappears or changes type while the
// copy runs fails the copy with kBusy naming it.
Status copyContentTree(int sourceFd, int targetFd, const CopyCheck& check);

// Removes `name` in `parentFd` and everything below it, never following a symlink.
Status removeTree(int parentFd, const std::string& name);

}  // namespace virtscratch::image
