#include "daemon/file_modes.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/unique_fd.h"

namespace virtscratch::daemon {
namespace {

std::string octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::optional<std::string> tightenMode(int dirFd, const std::string& name, mode_t allowed,
                                       const std::string& shown) {
  // Opened, not chmod'ed by name: fchmodat would follow a symlink put in the file's place.
  // O_NONBLOCK: a FIFO in its place must not hang the caller.
  UniqueFd fd(openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st;
  if (!fd || fstat(fd.get(), &st) != 0) {
    return "'" + shown + "' (cannot check its mode: " + std::strerror(errno) + ")";
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return std::nullopt;
  mode_t now = st.st_mode & 07777;
  mode_t wanted = now & allowed;
  if (wanted == now) return std::nullopt;
  if (fchmod(fd.get(), wanted) != 0) {
    return "'" + shown + "' (cannot tighten " + octal(now) + ": " + std::strerror(errno) + ")";
  }
  return "'" + shown + "' " + octal(now) + " -> " + octal(wanted);
}

}  // namespace virtscratch::daemon
