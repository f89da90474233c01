#include "image/content_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "image/content_tree.h"

namespace virtscratch::image {
namespace {

constexpr int kReadFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::string shown(std::string_view path) { return quoted(path.empty() ? "." : path); }

Status changed(std::string_view path, int err) {
  return {ErrorCode::kBusy, "content " + shown(path) + " changed while it was copied (" +
                                std::strerror(err) + "); try again"};
}

// The inode behind the O_PATH descriptor `pathFd`, opened for reading; O_NOATIME where the
// kernel allows it (it does for root), so that copying leaves the caller's access times alone.
Result<UniqueFd> reopen(int pathFd, const struct stat& seen, int extra, std::string_view path) {
  std::string proc = procPathOf(pathFd);
  UniqueFd fd(open(proc.c_str(), kReadFlags | O_NOATIME | extra));
  if (!fd && errno == EPERM) fd.reset(open(proc.c_str(), kReadFlags | extra));
  if (!fd) return errnoStatus("cannot open content " + shown(path), errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("cannot stat content " + shown(path), errno);
  if (st.st_dev != seen.st_dev || st.st_ino != seen.st_ino) return changed(path, ESTALE);
  return fd;
}

// Mode and times are set while the copy is still the daemon's own (root's, so no CAP_FOWNER is
// needed for them), the owner last. chown clears setuid and setgid on a regular file; they are
// set again where the kernel lets us (with CAP_FOWNER, which the systemd unit does not grant),
// else a copy owned by someone else than root loses them.
Status keepOwnerModeTimes(int fd, const struct stat& st, std::string_view path) {
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  // RestrictSUIDSGID= in the unit refuses setuid and setgid bits (EPERM): the copy goes without.
  int modeSet = fchmod(fd, st.st_mode & 07777);
  if (modeSet != 0 && errno == EPERM) modeSet = fchmod(fd, st.st_mode & 01777);
  if (modeSet != 0 || futimens(fd, times) != 0) {
    return errnoStatus("cannot set the mode and times of the copy of " + shown(path), errno);
  }
  if (st.st_uid == 0 && st.st_gid == 0) return {};
  if (fchown(fd, st.st_uid, st.st_gid) != 0) {
    return errnoStatus("cannot set the owner of the copy of " + shown(path), errno);
  }
  if (S_ISREG(st.st_mode) && (st.st_mode & 06000) != 0) (void)fchmod(fd, st.st_mode & 07777);
  // (That fchmod fails under RestrictSUIDSGID=, leaving the bits off, as documented.)
  return {};
}

class TreeCopy {
 public:
  TreeCopy(int targetRoot, const CopyCheck& check) : targetRoot_(targetRoot), check_(check) {}

  // `path` names `sourceFd` and is restored before returning.
  Status copyDirectory(int sourceFd, int targetFd, const struct stat& st, std::string& path) {
    VS_RETURN_IF_ERROR(check_({path, sourceFd, st}));
    UniqueFd copy(fcntl(sourceFd, F_DUPFD_CLOEXEC, 0));
    if (!copy) return errnoStatus("cannot read content directory " + shown(path), errno);
    DirPtr dir(fdopendir(copy.get()));
    if (!dir) return errnoStatus("cannot read content directory " + shown(path), errno);
    copy.release();
    const size_t base = path.size();
    while (true) {
      errno = 0;
      const dirent* e = readdir(dir.get());
      if (e == nullptr) {
        if (errno != 0) return errnoStatus("cannot read content directory " + shown(path), errno);
        break;
      }
      std::string_view name(e->d_name);
      if (name == "." || name == "..") continue;
      if (base > 0) path += '/';
      path += name;
      VS_RETURN_IF_ERROR(copyEntry(sourceFd, targetFd, e->d_name, path));
      path.resize(base);
    }
    return keepOwnerModeTimes(targetFd, st, path);
  }

 private:
  Status copyEntry(int sourceDir, int targetDir, const char* name, std::string& path) {
    UniqueFd pathFd(openat(sourceDir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!pathFd) {
      if (errno == ENOENT) return changed(path, errno);
      return errnoStatus("cannot open content " + shown(path), errno);
    }
    struct stat st;
    if (fstat(pathFd.get(), &st) != 0) {
      return errnoStatus("cannot stat content " + shown(path), errno);
    }
    if (S_ISLNK(st.st_mode)) return copySymlink(pathFd.get(), st, targetDir, name, path);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      return invalidArgument("content " + shown(path) + " is " + fileTypeName(st.st_mode) +
                             ": only directories, regular files and symlinks go into an image");
    }
    VS_ASSIGN_OR_RETURN(UniqueFd fd,
                        reopen(pathFd.get(), st, S_ISDIR(st.st_mode) ? O_DIRECTORY : 0, path));
    pathFd.reset();
    if (S_ISREG(st.st_mode)) return copyFile(fd.get(), st, targetDir, name, path);
    if (mkdirat(targetDir, name, 0700) != 0) {
      return errnoStatus("cannot make the copy of " + shown(path), errno);
    }
    UniqueFd target(openat(targetDir, name, kDirFlags));
    if (!target) return errnoStatus("cannot open the copy of " + shown(path), errno);
    return copyDirectory(fd.get(), target.get(), st, path);
  }

  Status copyFile(int fd, const struct stat& st, int targetDir, const char* name,
                  std::string_view path) {
    VS_RETURN_IF_ERROR(check_({path, fd, st}));
    std::pair<dev_t, ino_t> inode{st.st_dev, st.st_ino};
    if (st.st_nlink > 1) {
      auto seen = links_.find(inode);
      if (seen != links_.end()) {
        // Without CAP_FOWNER the kernel may refuse to link a file owned by someone else
        // (fs.protected_hardlinks): then it is copied once more.
        if (linkat(targetRoot_, seen->second.c_str(), targetDir, name, 0) == 0) return {};
        if (errno != EPERM) return errnoStatus("cannot link the copy of " + shown(path), errno);
      }
    }
    UniqueFd out(
        openat(targetDir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return errnoStatus("cannot make the copy of " + shown(path), errno);
    auto size = static_cast<uint64_t>(st.st_size);
    VS_ASSIGN_OR_RETURN(std::vector<Extent> extents, dataExtents(fd, 0, size));
    for (const Extent& e : extents) {
      Status copied = copyRange(fd, e.offset, out.get(), e.offset, e.length);
      if (!copied.ok()) return copied.withContext("copying content " + shown(path));
    }
    if (ftruncate(out.get(), static_cast<off_t>(size)) != 0) {
      return errnoStatus("cannot size the copy of " + shown(path), errno);
    }
    VS_RETURN_IF_ERROR(keepOwnerModeTimes(out.get(), st, path));
    if (st.st_nlink > 1) links_.try_emplace(inode, std::string(path));
    return {};
  }

  // A symlink's target is text to store; nothing reads through it, and its own permission bits
  // mean nothing to the kernel (only the search right on its directory, checked already).
  Status copySymlink(int pathFd, const struct stat& st, int targetDir, const char* name,
                     std::string_view path) {
    std::string target(static_cast<size_t>(st.st_size) + 2, '\0');
    ssize_t n = readlinkat(pathFd, "", target.data(), target.size());
    if (n < 0) return errnoStatus("cannot read content symlink " + shown(path), errno);
    if (static_cast<size_t>(n) >= target.size()) return changed(path, EOVERFLOW);
    target.resize(static_cast<size_t>(n));
    if (symlinkat(target.c_str(), targetDir, name) != 0) {
      return errnoStatus("cannot make the copy of symlink " + shown(path), errno);
    }
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (utimensat(targetDir, name, times, AT_SYMLINK_NOFOLLOW) != 0 ||
        fchownat(targetDir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return errnoStatus("cannot set the owner and times of the copy of " + shown(path), errno);
    }
    return {};
  }

  int targetRoot_;
  const CopyCheck& check_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // hard-linked files copied, by inode
};

}  // namespace

Status copyContentTree(int sourceFd, int targetFd, const CopyCheck& check) {
  struct stat st;
  if (fstat(sourceFd, &st) != 0) return errnoStatus("cannot stat the content directory", errno);
  std::string path;
  return TreeCopy(targetFd, check).copyDirectory(sourceFd, targetFd, st, path);
}

Status removeTree(int parentFd, const std::string& name) {
  UniqueFd dirFd(openat(parentFd, name.c_str(), kDirFlags));
  if (dirFd) {
    UniqueFd copy(fcntl(dirFd.get(), F_DUPFD_CLOEXEC, 0));
    if (!copy) return errnoStatus("cannot read directory " + quoted(name), errno);
    DirPtr dir(fdopendir(copy.get()));
    if (!dir) return errnoStatus("cannot read directory " + quoted(name), errno);
    copy.release();
    while (const dirent* e = readdir(dir.get())) {
      std::string entry = e->d_name;
      if (entry == "." || entry == "..") continue;
      VS_RETURN_IF_ERROR(removeTree(dirFd.get(), entry));
    }
    if (unlinkat(parentFd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return errnoStatus("cannot remove directory " + quoted(name), errno);
    }
    return {};
  }
  if (errno != ENOTDIR && errno != ELOOP && errno != ENOENT) {
    return errnoStatus("cannot open " + quoted(name), errno);
  }
  if (unlinkat(parentFd, name.c_str(), 0) != 0 && errno != ENOENT) {
    return errnoStatus("cannot remove " + quoted(name), errno);
  }
  return {};
}

}  // namespace virtscratch::image
