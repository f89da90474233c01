#include "image/content_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>

namespace virtscratch::image {
namespace {

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

std::string shown(std::string_view path) { return path.empty() ? "." : std::string(path); }

// `path` is the relative path of dirFd and is restored before returning.
Status walkDirectory(int dirFd, std::string& path, ContentVisitor& visitor) {
  int dupFd = fcntl(dirFd, F_DUPFD_CLOEXEC, 0);
  if (dupFd < 0) return errnoStatus("cannot read content directory " + quoted(shown(path)), errno);
  DirPtr dir(fdopendir(dupFd));
  if (!dir) {
    int err = errno;
    close(dupFd);
    return errnoStatus("cannot read content directory " + quoted(shown(path)), err);
  }
  const size_t baseLength = path.size();
  while (true) {
    errno = 0;
    const dirent* e = readdir(dir.get());
    if (e == nullptr) {
      if (errno != 0) {
        return errnoStatus("cannot read content directory " + quoted(shown(path)), errno);
      }
      return {};
    }
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    if (baseLength > 0) path += '/';
    path += name;
    struct stat st {};
    if (fstatat(dirFd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return errnoStatus("cannot read content file " + quoted(path), errno);
    }
    VS_RETURN_IF_ERROR(visitor.visit({path, name, st, dirFd}));
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(openat(dirFd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return errnoStatus("cannot open content directory " + quoted(path), errno);
      VS_RETURN_IF_ERROR(walkDirectory(sub.get(), path, visitor));
      std::string_view subName = std::string_view(path).substr(path.size() - name.size());
      VS_RETURN_IF_ERROR(visitor.leaveDirectory({path, subName, st, dirFd}));
    }
    path.resize(baseLength);
  }
}

}  // namespace

Result<UniqueFd> openContentDir(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) return fd;
  int err = errno;
  if (err == ENOENT) {
    return invalidArgument("content directory " + quoted(dir) +
                           " does not exist; give a directory whose files go into the image");
  }
  if (err == ENOTDIR) {
    return invalidArgument("content " + quoted(dir) +
                           " is not a directory; give a directory whose files go into the image");
  }
  return errnoStatus("cannot open content directory " + quoted(dir), err);
}

Status walkContent(int rootFd, ContentVisitor& visitor) {
  std::string path;
  return walkDirectory(rootFd, path, visitor);
}

Result<std::string> readContentSymlink(const ContentEntry& entry) {
  // st_size is the target length for symlinks; a bigger buffer catches a link that changed.
  std::string target(static_cast<size_t>(entry.st.st_size) + 2, '\0');
  std::string name(entry.name);
  ssize_t n = readlinkat(entry.parentFd, name.c_str(), target.data(), target.size());
  if (n < 0) return errnoStatus("cannot read content symlink " + quoted(entry.path), errno);
  if (static_cast<size_t>(n) >= target.size()) {
    return failed("content symlink " + quoted(entry.path) + " changed while it was read");
  }
  target.resize(static_cast<size_t>(n));
  return target;
}

size_t utf8SequenceLength(std::string_view text) {
  if (text.empty()) return 0;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  uint32_t cp = 0;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
    cp = lead & 0x1f;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    cp = lead & 0x0f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    cp = lead & 0x07;
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(i) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3f);
  }
  bool overlong = (length == 3 && cp < 0x800) || (length == 4 && cp < 0x10000);
  bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
  if (overlong || surrogate || cp > 0x10ffff) return 0;
  return length;
}

std::string quoted(std::string_view text) {
  std::string out = "'";
  size_t i = 0;
  while (i < text.size()) {
    size_t n = utf8SequenceLength(text.substr(i));
    auto c = static_cast<unsigned char>(text[i]);
    bool c1Control = n == 2 && c == 0xc2 && static_cast<unsigned char>(text[i + 1]) < 0xa0;
    if (c1Control) n = 0;  // both bytes shown as \xNN
    if (n == 0 || c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  out += "'";
  return out;
}

}  // namespace virtscratch::image
