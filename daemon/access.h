// What the daemon (running as root) may read for a caller: never content the administrator did
// not put under a content root, and only what the caller could read itself. Who may change the
// pool at all is polkit's decision, asked by the bus layer (daemon/dbus/authorizer.h); exports go
// to a descriptor the caller opened, so the daemon never writes where a caller names a path.
// Loop thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/service.h"

namespace virtscratch::daemon {

// A content directory opened under one of the configured roots, by descriptors from "/" down
// (O_NOFOLLOW at every step), so that nothing can be swapped in after the check. The directories
// above it stay open for the check of the reader's search right on each of them, made with the
// rest of the reader's checks when the content is staged (content_staging.h).
struct OpenedContent {
  struct Ancestor {
    std::string path;  // canonical, for messages
    UniqueFd fd;
  };
  UniqueFd fd;
  std::string resolved;             // the canonical path, for messages
  std::vector<Ancestor> ancestors;  // "/" first, the content directory's parent last
  Caller reader;                    // whose rights the content is read with (set by the Service)
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
