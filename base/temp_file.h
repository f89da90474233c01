// A file under construction in a directory. It has no name while it is being built (O_TMPFILE),
// so a crash, a signal or SIGKILL leaves nothing behind; publish() gives it its name in one step.
// Where the filesystem has no O_TMPFILE it falls back to a hidden named file that the destructor
// and removeTempFilesOnSignal() delete.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"

namespace virtscratch {

class TempFile {
 public:
  // Makes an empty file in the directory `dirFd` (which stays owned by the caller and must
  // outlive the TempFile). Mode 0666 less the umask, like qemu-img's files; or exactly `mode`
  // when given, whatever the umask (the daemon's private files).
  static Result<TempFile> create(int dirFd, std::optional<mode_t> mode = std::nullopt);

  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&&) = delete;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();

  int fd() const { return fd_.get(); }
  // A path a child process (mkfs, mcopy) can open to reach this file.
  std::string path() const;

  // fsyncs the file and gives it `name` in the directory. Without `overwrite`, an existing `name`
  // is never replaced (kAlreadyExists), even if it appeared while the file was being built.
  // With `syncName` the directory is fsynced too, so the name survives a host crash; without it
  // the name reaches the disk with the filesystem's next commit, and a host crash before that
  // may lose the name but never leaves it on a partial file (the content is fsynced first).
  Status publish(std::string_view name, bool overwrite, bool syncName = true);

 private:
  TempFile(int dirFd, UniqueFd fd, std::string name);
  int dirFd_;
  UniqueFd fd_;
  std::string name_;  // empty while unnamed (O_TMPFILE); the hidden name in the fallback
  bool published_ = false;
};

// 16 random hex digits, different at each call: for names in a directory that must not collide.
std::string randomSuffix();

// Async-signal-safe: unlinks the hidden named files of every live TempFile. For SIGINT/SIGTERM
// handlers; unnamed files need nothing.
void removeTempFilesOnSignal();

}  // namespace virtscratch
