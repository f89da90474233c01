#include "daemon/access.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "base/file_io.h"

namespace virtscratch::daemon {
namespace {

std::vector<std::string> componentsOf(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    if (end > pos) parts.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return parts;
}

Result<std::string> canonical(const std::string& path, std::string_view what) {
  if (path.empty() || path.front() != '/') {
    return invalidArgument(std::string(what) + " '" + path + "' is not an absolute path");
  }
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return invalidArgument(std::string(what) + " '" + path +
                           "' cannot be used: " + std::strerror(errno));
  }
  return std::string(resolved);
}

Result<UniqueFd> openDirectory(int dirFd, const std::string& name, const std::string& shown) {
  UniqueFd fd(openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT) {
      return Status(ErrorCode::kAccessDenied,
                    "'" + shown + "' changed while it was being checked; try again");
    }
    return errnoStatus("open '" + shown + "'", errno);
  }
  return fd;
}

}  // namespace

Result<std::shared_ptr<OpenedContent>> ContentRoots::open(const std::string& dir) const {
  if (roots_.empty()) {
    return Status(
        ErrorCode::kAccessDenied,
        "content '" + dir + "' is refused: no content roots are configured ([content] roots)");
  }
  VS_ASSIGN_OR_RETURN(std::string resolved, canonical(dir, "content"));
  auto root = std::find_if(roots_.begin(), roots_.end(), [&](const std::string& r) {
    return resolved == r || (resolved.size() > r.size() && resolved.compare(0, r.size(), r) == 0 &&
                             resolved[r.size()] == '/');
  });
  if (root == roots_.end()) {
    std::string known;
    for (const std::string& r : roots_) known += (known.empty() ? "" : ", ") + r;
    std::string shown = resolved == dir ? "" : " (resolved to '" + resolved + "')";
    return Status(ErrorCode::kAccessDenied,
                  "content '" + dir + "'" + shown + " is not under a content root (" + known + ")");
  }
  struct stat st;
  if (stat(resolved.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return invalidArgument("content '" + dir + "' is not a directory");
  }
  auto content = std::make_shared<OpenedContent>();
  content->resolved = resolved;
  content->fd.reset(::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!content->fd) return errnoStatus("open '/'", errno);
  std::string walked;
  for (const std::string& part : componentsOf(resolved)) {
    std::string parent = walked.empty() ? "/" : walked;
    walked += "/" + part;
    VS_ASSIGN_OR_RETURN(UniqueFd next, openDirectory(content->fd.get(), part, walked));
    content->ancestors.push_back({parent, std::move(content->fd)});
    content->fd = std::move(next);
  }
  return content;
}

}  // namespace virtscratch::daemon
