// Walking a host directory for the content writers that must list it themselves (the xfs
// protofile, the vfat checks before mcopy). Nothing is followed through symlinks: every entry is
// reported with its lstat data, a directory before its entries, in readdir order. Memory stays
// bounded by the depth of the tree (one open directory per level), not by its size.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"

namespace virtscratch::image {

struct ContentEntry {
  std::string_view path;  // relative to the content root, "a/b"; valid during the call only
  std::string_view name;  // the last component of path
  const struct stat& st;  // lstat data
  int parentFd;           // the directory holding the entry (for readlinkat)
};

class ContentVisitor {
 public:
  virtual ~ContentVisitor() = default;
  // Every entry below the root. A directory's entries follow its visit, then leaveDirectory.
  virtual Status visit(const ContentEntry& entry) = 0;
  virtual Status leaveDirectory(const ContentEntry& dir) = 0;
};

// Opens the content directory. kInvalidArgument naming `dir` when it does not exist or is not a
// directory.
Result<UniqueFd> openContentDir(const std::string& dir);

// Walks everything below `rootFd`; stops at the first error a visit returns.
Status walkContent(int rootFd, ContentVisitor& visitor);

// The target of the symlink `entry`.
Result<std::string> readContentSymlink(const ContentEntry& entry);

// `text` in single quotes for an error message, with control bytes and bytes that are not valid
// UTF-8 written as \xNN, so that a bad name or label can be shown without garbling the message.
std::string quoted(std::string_view text);

// The length of the valid UTF-8 sequence at the start of `text`, or 0 when it is not valid
// (overlong forms, surrogates and code points past U+10FFFF are not).
size_t utf8SequenceLength(std::string_view text);

}  // namespace virtscratch::image
