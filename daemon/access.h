// Where the daemon (running as root) may act for a caller: it must never write where the caller
// could not write, nor read content the administrator did not put under a content root. Who may
// change the pool at all is polkit's decision, asked by the bus layer (daemon/dbus/authorizer.h).
// Loop thread (NSS lookups are short; nscd caches them where it runs).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "image/status.h"
#include "image/unique_fd.h"

namespace virtscratch::daemon {

// The primary group of `uid` from the password database; (gid_t)-1 when it has no entry.
gid_t primaryGroupOf(uid_t uid);

// A directory the daemon may create a file in for `uid` in `groups` (the groups the bus reports
// for the caller's connection, never the user database): opened, and checked that the caller
// may search every directory on the way from "/" and write in the last one, by the owner, group
// and other permission bits (root may everywhere). Symlinks on the way are resolved first; a path
// that changes while it is checked is refused.
Result<UniqueFd> openDirectoryWritableBy(uid_t uid, const std::vector<gid_t>& groups,
                                         const std::string& dir);

// A content directory opened under one of the configured roots. `path` is what the engine and
// the mkfs tools are given: /proc/<pid>/fd/<n> of the opened directory, so that nothing can be
// swapped in after the check.
struct OpenedContent {
  UniqueFd fd;
  std::string resolved;  // the canonical path, for messages
  std::string path;
};

class ContentRoots {
 public:
  explicit ContentRoots(std::vector<std::string> roots) : roots_(std::move(roots)) {}
  // kInvalidArgument for a path that is not absolute or cannot be read; kAccessDenied when it is
  // not under a root, also after symlinks are resolved.
  Result<std::shared_ptr<OpenedContent>> open(const std::string& dir) const;

 private:
  std::vector<std::string> roots_;  // canonical (realpath) directories
};

}  // namespace virtscratch::daemon
