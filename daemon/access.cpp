#include "daemon/access.h"

#include <fcntl.h>
#include <grp.h>
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

// The groups `uid` is in: its primary group and the supplementary ones from the group database.
std::vector<gid_t> groupsOf(uid_t uid) {
  Account account = accountOf(uid);
  if (!account.found) return {};
  std::vector<gid_t> groups(64);
  for (int attempt = 0; attempt < 8; ++attempt) {
    int count = static_cast<int>(groups.size());
    if (getgrouplist(account.name.c_str(), account.gid, groups.data(), &count) >= 0) {
      groups.resize(static_cast<size_t>(count));
      return groups;
    }
    groups.resize(static_cast<size_t>(count) * 2 + 16);
  }
  return {account.gid};
}

bool lookupGroup(const std::string& name, gid_t* gid) {
  std::vector<char> buf(65536);
  group gr;
  group* result = nullptr;
  if (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    return false;
  }
  *gid = gr.gr_gid;
  return true;
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

Status AccessPolicy::checkMutate(uid_t uid) const {
  if (uid == 0) return {};
  std::string denied =
      "uid " + std::to_string(uid) + " is not root and not in group '" + group_ + "'";
  gid_t gid = 0;
  if (!lookupGroup(group_, &gid)) {
    return {ErrorCode::kAccessDenied, denied + " (the group does not exist on this host)"};
  }
  std::vector<gid_t> groups = groupsOf(uid);
  if (std::find(groups.begin(), groups.end(), gid) == groups.end()) {
    return {ErrorCode::kAccessDenied, denied};
  }
  return {};
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
