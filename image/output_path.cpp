#include "image/output_path.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

namespace virtscratch::image {

Result<OutputPath> openOutputPath(const std::string& path) {
  if (path.empty()) return invalidArgument("no output path given");
  if (path.back() == '/') return invalidArgument("'" + path + "' names a directory, not a file");
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  OutputPath out;
  out.name = slash == std::string::npos ? path : path.substr(slash + 1);
  out.path = path;
  if (out.name == "." || out.name == "..") {
    return invalidArgument("'" + path + "' names a directory, not a file");
  }
  out.dir.reset(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!out.dir)
    return errnoStatus("cannot open the directory '" + dir + "' of '" + path + "'", errno);
  return out;
}

Status checkDestination(int dirFd, std::string_view name, bool force) {
  struct stat st;
  std::string n(name);
  if (fstatat(dirFd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return errnoStatus("check '" + n + "'", errno);
  }
  if (!S_ISREG(st.st_mode)) {
    return {ErrorCode::kAlreadyExists,
            "'" + n + "' exists and is not a regular file; it is never replaced"};
  }
  if (!force) {
    return {ErrorCode::kAlreadyExists,
            "'" + n + "' already exists; choose another name, or replace it with --force"};
  }
  return {};
}

Status checkFileName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
    return invalidArgument("'" + std::string(name) + "' is not a file name");
  }
  return {};
}

Status notWritten(Status status, int dirFd, std::string_view name, const std::string& path) {
  struct stat st;
  std::string n(name);
  if (fstatat(dirFd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    return status.withContext("'" + path + "' was not replaced; the file already there is kept");
  }
  return status.withContext("'" + path + "' was not created");
}

}  // namespace virtscratch::image
