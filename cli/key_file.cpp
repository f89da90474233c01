#include "cli/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "base/file_io.h"
#include "base/unique_fd.h"

namespace virtscratch::cli {
namespace {

constexpr off_t kMaxKeyFile = 64 * 1024;

}  // namespace

Result<std::string> readKeyFile(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return errnoStatus("reading key file '" + path + "'", errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("reading key file '" + path + "'", errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("key file '" + path + "' is a " + fileTypeName(st.st_mode) +
                           ", not a regular file");
  }
  if (st.st_size == 0 || st.st_size > kMaxKeyFile) {
    return invalidArgument("key file '" + path + "' holds " + std::to_string(st.st_size) +
                           " bytes; a key file holds 1 to " + std::to_string(kMaxKeyFile));
  }
  std::string key(static_cast<size_t>(st.st_size), '\0');
  VS_RETURN_IF_ERROR(
      readAll(fd.get(), key.data(), key.size(), 0).withContext("reading key file '" + path + "'"));
  return key;
}

}  // namespace virtscratch::cli
