#include "daemon/shared_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "base/file_io.h"
#include "daemon/file_modes.h"

namespace virtscratch::daemon {
namespace {

// Far past any image's data and QEMU's lock bytes; a lock needs no data at its offset.
constexpr off_t kOwnerLockByte = off_t{1} << 62;
constexpr size_t kMaxHostName = 64;

bool hostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

Status validateHostName(std::string_view name) {
  std::string shown = "'" + std::string(name.substr(0, kMaxHostName + 1)) + "'";
  if (name.empty()) return invalidArgument("the host name is empty; set [pool] host");
  if (name.size() > kMaxHostName) {
    return invalidArgument("host name " + shown +
                           "... is longer than 64 characters; set [pool] host");
  }
  for (char c : name) {
    if (!hostChar(c)) {
      return invalidArgument("host name " + shown +
                             " has a character other than letters, digits, '.', '_' and '-'; set "
                             "[pool] host");
    }
  }
  if (name.front() == '.' || name.front() == '-') {
    return invalidArgument("host name " + shown + " starts with '" + name.front() +
                           "'; set [pool] host");
  }
  return {};
}

Result<std::string> poolHostName(const std::string& configured) {
  std::string name = configured;
  if (name.empty()) {
    char buffer[HOST_NAME_MAX + 1] = {};
    if (gethostname(buffer, sizeof buffer - 1) != 0) {
      return errnoStatus("cannot read the host name; set [pool] host", errno);
    }
    name = buffer;
  }
  VS_RETURN_IF_ERROR(validateHostName(name));
  return name;
}

std::string templatesDirName(bool shared, std::string_view host) {
  return shared ? ".templates-" + std::string(host) : ".templates";
}

bool isTemplatesDirName(std::string_view name) {
  return name == ".templates" || name.starts_with(".templates-");
}

Result<UniqueFd> lockImage(int dirFd, const std::string& name, const std::string& shown) {
  // Read-only: libvirt hands a running domain's image to the qemu user (0600), and the daemon
  // may read, not write, what it does not own (CAP_DAC_READ_SEARCH). So the lock is QEMU's own
  // scheme: every holder takes a shared lock on the byte, then asks whether anyone else holds
  // one; two that meet both let go, so at most one ever keeps it.
  UniqueFd fd(openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errnoStatus("open " + shown + " to lock it", errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat " + shown, errno);
  if (!S_ISREG(st.st_mode)) return failed(shown + " is not a file");
  struct flock lock = {};
  lock.l_type = F_RDLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = kOwnerLockByte;
  lock.l_len = 1;
  if (fcntl(fd.get(), F_OFD_SETLK, &lock) != 0) return errnoStatus("lock " + shown, errno);
  struct flock other = lock;
  other.l_type = F_WRLCK;
  if (fcntl(fd.get(), F_OFD_GETLK, &other) != 0) return errnoStatus("lock " + shown, errno);
  if (other.l_type != F_UNLCK) {
    return Status(ErrorCode::kBusy, shown + " is held by another virt-scratchd (its owner's lock)");
  }
  return fd;
}

Status probeLocks(int poolFd, const std::string& poolPath, std::string_view host) {
  // A temporary name (pool_recovery.h's isTemporaryName) of this host's own.
  std::string name = ".virt-scratch-tmp-lockprobe-" + std::string(host);
  UniqueFd created(
      openat(poolFd, name.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, kPrivateFileMode));
  if (!created) return errnoStatus("cannot create '" + poolPath + "/" + name + "'", errno);
  created.reset();
  auto held = lockImage(poolFd, name, "'" + poolPath + "/" + name + "'");
  unlinkat(poolFd, name.c_str(), 0);
  if (held.ok()) return {};
  if (held.status().code() == ErrorCode::kBusy) {
    return Status(ErrorCode::kBusy, "another virt-scratchd named itself '" + std::string(host) +
                                        "' in the shared pool '" + poolPath +
                                        "' at the same moment; give each host its own [pool] host");
  }
  return Status(held.status().code(),
                "[pool] shared = yes needs file locks that the hosts sharing the pool all see, "
                "and the pool's filesystem refused one (" +
                    held.status().message() +
                    "); mount NFS with locking (not 'nolock'), or set shared = no");
}

std::string adoptMarkerName(std::string_view target) { return std::string(target) + ".adopt"; }

Status writeAdoptMarker(int dirFd, std::string_view target, std::string_view host) {
  std::string name = adoptMarkerName(target);
  std::string text = std::string(host) + "\n";
  UniqueFd fd(openat(dirFd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                     kPrivateFileMode));
  if (!fd) return errnoStatus("write the adoption marker " + name, errno);
  VS_RETURN_IF_ERROR(writeAll(fd.get(), text.data(), text.size(), 0));
  if (fsync(fd.get()) != 0 || fsync(dirFd) != 0) {
    return errnoStatus("write the adoption marker " + name, errno);
  }
  return {};
}

std::string adoptMarkerHost(int dirFd, std::string_view target) {
  std::string name = adoptMarkerName(target);
  UniqueFd fd(openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return "";
  char buffer[kMaxHostName + 2] = {};
  ssize_t n = pread(fd.get(), buffer, sizeof buffer - 1, 0);
  if (n <= 0) return "";
  std::string host(buffer, static_cast<size_t>(n));
  if (!host.empty() && host.back() == '\n') host.pop_back();
  return validateHostName(host).ok() ? host : "";
}

void removeAdoptMarker(int dirFd, std::string_view target, std::string_view host) {
  if (adoptMarkerHost(dirFd, target) != host) return;
  if (unlinkat(dirFd, adoptMarkerName(target).c_str(), 0) == 0) fsync(dirFd);
}

}  // namespace virtscratch::daemon
