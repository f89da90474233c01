#include "daemon/access.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "image/file_io.h"

namespace virtscratch::daemon {
namespace {

struct Account {
  bool found = false;
  std::string name;
  gid_t gid = static_cast<gid_t>(-1);
};

Account accountOf(uid_t uid) {
  std::vector<char> buf(16384);
  passwd pw;
  passwd* result = nullptr;
  Account account;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &result) == 0 && result != nullptr) {
    account = {true, pw.pw_name, pw.pw_gid};
  }
  return account;
}

// Whether `uid` (in `groups`) has every bit of `want` (4 read, 2 write, 1 search) on `st`, by the
// permission bits as the kernel checks them: owner, else group, else other.
bool permits(const struct stat& st, uid_t uid, const std::vector<gid_t>& groups, unsigned want) {
  if (uid == 0) return true;
  unsigned mode = st.st_mode;
  unsigned bits;
  if (st.st_uid == uid) {
    bits = (mode >> 6) & 7;
  } else if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) {
    bits = (mode >> 3) & 7;
  } else {
    bits = mode & 7;
  }
  return (bits & want) == want;
}

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

gid_t primaryGroupOf(uid_t uid) { return accountOf(uid).gid; }

Result<UniqueFd> openDirectoryWritableBy(uid_t uid, const std::vector<gid_t>& groups,
                                         const std::string& dir) {
  VS_ASSIGN_OR_RETURN(std::string path, canonical(dir, "directory"));
  UniqueFd fd(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errnoStatus("open '/'", errno);
  std::string walked;
  for (const std::string& part : componentsOf(path)) {
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + walked + "/'", errno);
    if (!permits(st, uid, groups, 1)) {
      return Status(ErrorCode::kAccessDenied, "uid " + std::to_string(uid) + " cannot enter '" +
                                                  (walked.empty() ? "/" : walked) + "'");
    }
    walked += "/" + part;
    VS_ASSIGN_OR_RETURN(fd, openDirectory(fd.get(), part, walked));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + path + "'", errno);
  if (!permits(st, uid, groups, 3)) {
    return Status(ErrorCode::kAccessDenied,
                  "uid " + std::to_string(uid) + " cannot write in '" + path + "'");
  }
  return fd;
}

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
  content->fd.reset(::open(root->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!content->fd) return errnoStatus("open content root '" + *root + "'", errno);
  std::string walked = *root;
  for (const std::string& part : componentsOf(resolved.substr(root->size()))) {
    walked += "/" + part;
    VS_ASSIGN_OR_RETURN(content->fd, openDirectory(content->fd.get(), part, walked));
  }
  content->path = image::procPathOf(content->fd.get());
  return content;
}

}  // namespace virtscratch::daemon
