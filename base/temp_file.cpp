#include "base/temp_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "base/file_io.h"

namespace virtscratch {
namespace {

// Hidden names of fallback temp files, for the signal handler. Fixed storage: a signal handler
// may not allocate. A slot is claimed by an atomic flag so that threads can register at once.
constexpr int kSlots = 64;
struct Slot {
  std::atomic<bool> used{false};
  int dirFd = -1;
  char name[256] = {};
};
Slot gSlots[kSlots];

int registerName(int dirFd, const std::string& name) {
  if (name.size() >= sizeof(Slot::name)) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (gSlots[i].used.compare_exchange_strong(expected, true)) {
      gSlots[i].dirFd = dirFd;
      std::memcpy(gSlots[i].name, name.c_str(), name.size() + 1);
      return i;
    }
  }
  return -1;
}

void unregisterName(const std::string& name) {
  for (auto& slot : gSlots) {
    if (slot.used.load() && name == slot.name) {
      slot.name[0] = '\0';
      slot.used.store(false);
      return;
    }
  }
}

bool noTmpfileSupport(int err) {
  return err == EOPNOTSUPP || err == EISDIR || err == EINVAL || err == ENOENT;
}

}  // namespace

std::string randomSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

Result<TempFile> TempFile::create(int dirFd, std::optional<mode_t> mode) {
  mode_t openMode = mode.value_or(0666);
  int fd = openat(dirFd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, openMode);
  std::string name;
  if (fd < 0) {
    if (!noTmpfileSupport(errno)) return errnoStatus("create a temporary file", errno);
    for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
      name = ".virt-scratch-tmp-" + randomSuffix();
      fd =
          openat(dirFd, name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC | O_NOFOLLOW, openMode);
      if (fd < 0 && errno != EEXIST) return errnoStatus("create temporary file " + name, errno);
    }
    if (fd < 0) return failed("could not find a free temporary file name");
    registerName(dirFd, name);
  }
  TempFile file(dirFd, UniqueFd(fd), std::move(name));
  // The umask may have taken bits off: an explicit mode is set as given, before any content.
  if (mode && fchmod(fd, *mode) != 0) return errnoStatus("set the mode of a temporary file", errno);
  return file;
}

TempFile::TempFile(int dirFd, UniqueFd fd, std::string name)
    : dirFd_(dirFd), fd_(std::move(fd)), name_(std::move(name)) {}

TempFile::TempFile(TempFile&& other) noexcept
    : dirFd_(other.dirFd_),
      fd_(std::move(other.fd_)),
      name_(std::move(other.name_)),
      published_(other.published_) {
  other.name_.clear();
  other.published_ = true;
}

TempFile::~TempFile() {
  if (!published_ && !name_.empty()) {
    unlinkat(dirFd_, name_.c_str(), 0);
    unregisterName(name_);
  }
}

std::string TempFile::path() const { return procPathOf(fd_.get()); }

Status TempFile::publish(std::string_view name, bool overwrite, bool syncName) {
  std::string target(name);
  if (fsync(fd_.get()) != 0) return errnoStatus("fsync", errno);
  if (name_.empty()) {
    // An unnamed file gets a name with linkat through /proc, which needs no privilege (unlike
    // AT_EMPTY_PATH) and, like every link, never replaces an existing name.
    std::string self = "/proc/self/fd/" + std::to_string(fd_.get());
    if (!overwrite) {
      if (linkat(AT_FDCWD, self.c_str(), dirFd_, target.c_str(), AT_SYMLINK_FOLLOW) != 0) {
        return errnoStatus("create '" + target + "'", errno);
      }
    } else {
      std::string hidden = ".virt-scratch-tmp-" + randomSuffix();
      if (linkat(AT_FDCWD, self.c_str(), dirFd_, hidden.c_str(), AT_SYMLINK_FOLLOW) != 0) {
        return errnoStatus("create '" + target + "'", errno);
      }
      if (renameat(dirFd_, hidden.c_str(), dirFd_, target.c_str()) != 0) {
        int err = errno;
        unlinkat(dirFd_, hidden.c_str(), 0);
        return errnoStatus("replace '" + target + "'", err);
      }
    }
  } else {
    unsigned flags = overwrite ? 0 : RENAME_NOREPLACE;
    if (renameat2(dirFd_, name_.c_str(), dirFd_, target.c_str(), flags) != 0) {
      return errnoStatus("create '" + target + "'", errno);
    }
    unregisterName(name_);
  }
  published_ = true;
  if (syncName && fsync(dirFd_) != 0) return errnoStatus("fsync directory", errno);
  return {};
}

void removeTempFilesOnSignal() {
  for (auto& slot : gSlots) {
    if (slot.used.load() && slot.name[0] != '\0') unlinkat(slot.dirFd, slot.name, 0);
  }
}

}  // namespace virtscratch
