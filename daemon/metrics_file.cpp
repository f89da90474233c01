#include "daemon/metrics_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "base/file_io.h"
#include "base/unique_fd.h"

namespace virtscratch::daemon {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// The directory `dir` (absolute), each component opened without following a symlink.
Result<UniqueFd> openDirectory(const std::string& dir) {
  UniqueFd fd(open("/", kDirFlags));
  if (!fd) return errnoStatus("cannot open '/'", errno);
  size_t pos = 1;
  while (pos < dir.size()) {
    size_t end = dir.find('/', pos);
    if (end == std::string::npos) end = dir.size();
    std::string name = dir.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty() || name == ".") continue;
    UniqueFd next(openat(fd.get(), name.c_str(), kDirFlags));
    if (!next) {
      int err = errno;
      std::string upTo = dir.substr(0, end);
      if (err == ELOOP || err == ENOTDIR) {
        return failed("'" + upTo + "' is not a directory (a symlink is not followed); point " +
                      "[metrics] textfile at a file in a real directory");
      }
      return errnoStatus("cannot open the directory '" + upTo + "' of [metrics] textfile", err);
    }
    fd = std::move(next);
  }
  return fd;
}

}  // namespace

Status writeMetricsFile(const std::string& path, const std::string& text) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash + 1 == path.size()) {
    return invalidArgument("'" + path + "' names no file");
  }
  std::string dirPath = slash == 0 ? "/" : path.substr(0, slash);
  std::string name = path.substr(slash + 1);
  VS_ASSIGN_OR_RETURN(UniqueFd dir, openDirectory(dirPath));
  std::string temp = "." + name + ".tmp";
  unlinkat(dir.get(), temp.c_str(), 0);  // left by a daemon that died while writing
  UniqueFd fd(
      openat(dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return errnoStatus("cannot create '" + dirPath + "/" + temp + "'", errno);
  auto fail = [&](Status status) {
    unlinkat(dir.get(), temp.c_str(), 0);
    return status;
  };
  // The unit's UMask (0077) would keep node_exporter, which runs as its own user, out.
  if (fchmod(fd.get(), 0644) != 0) return fail(errnoStatus("chmod '" + temp + "'", errno));
  if (Status s = writeAll(fd.get(), text.data(), text.size(), 0); !s.ok()) return fail(s);
  if (fsync(fd.get()) != 0) return fail(errnoStatus("fsync '" + temp + "'", errno));
  if (renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) != 0) {
    return fail(errnoStatus("cannot rename '" + temp + "' to '" + path + "'", errno));
  }
  return {};
}

}  // namespace virtscratch::daemon
