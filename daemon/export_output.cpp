#include "daemon/export_output.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>

#include "base/file_io.h"

namespace virtscratch::daemon {
namespace {

// The path the descriptor was opened as, from /proc; only for messages.
std::string pathOf(int fd) {
  char buf[PATH_MAX];
  ssize_t n = readlink(procPathOf(fd).c_str(), buf, sizeof buf);
  if (n <= 0) return "fd " + std::to_string(fd);
  std::string path(buf, static_cast<size_t>(n));
  // An O_TMPFILE file, or one removed since: its old name would mislead.
  if (path.ends_with(" (deleted)")) return "an unnamed file";
  return "'" + path + "'";
}

}  // namespace

Result<ExportOutput> checkExportOutput(UniqueFd fd) {
  if (!fd) return invalidArgument("the export output is not a file descriptor");
  int flags = fcntl(fd.get(), F_GETFL);
  if (flags < 0) return errnoStatus("fcntl of the export output", errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat of the export output", errno);
  ExportOutput output;
  output.regular = S_ISREG(st.st_mode);
  output.shown = S_ISFIFO(st.st_mode) ? "a pipe" : pathOf(fd.get());
  const std::string what = "the export output (" + output.shown + ")";
  if (!output.regular && !S_ISFIFO(st.st_mode)) {
    return invalidArgument(what + " is " + fileTypeName(st.st_mode) +
                           "; pass an empty regular file or a pipe");
  }
  int access = flags & O_ACCMODE;
  // O_PATH descriptors report O_RDONLY here: refused with the read-only ones.
  if (access != O_WRONLY && access != O_RDWR) {
    return invalidArgument(what + " is open read-only; open it for writing (O_WRONLY)");
  }
  if (output.regular) {
    if (st.st_size != 0) {
      return invalidArgument(what + " is not empty (" + std::to_string(st.st_size) +
                             " bytes); pass an empty file, the daemon does not truncate it");
    }
    off_t at = lseek(fd.get(), 0, SEEK_CUR);
    if (at != 0) {
      return invalidArgument(what + " is at offset " + std::to_string(at) + ", not at its start");
    }
  } else if ((flags & O_NONBLOCK) != 0) {
    // A full pipe would make write() fail with EAGAIN half-way; the worker blocks instead.
    return invalidArgument(what + " is non-blocking (O_NONBLOCK); pass a blocking pipe");
  }
  output.fd = std::make_shared<UniqueFd>(std::move(fd));
  return output;
}

Status emptyExportOutput(const ExportOutput& output) {
  if (!output.regular || !output.fd) return {};
  if (ftruncate(output.fd->get(), 0) != 0) {
    return errnoStatus("empty " + output.shown + " again", errno);
  }
  return {};
}

}  // namespace virtscratch::daemon
