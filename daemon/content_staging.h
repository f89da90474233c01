// Content read with the caller's rights: the opened content directory is copied, entry by entry
// through descriptors (image/content_copy.h), into <pool>/.staging/<random>/, and each directory
// on the way from "/" and each entry below is checked against the reader's uid and groups as the
// kernel would check them (file_permission.h): search on every directory from "/" down to the
// content directory, read and search on the content directory and every directory below it,
// read on every regular file. The mkfs tools are then given the staged copy, which only root can
// reach (.staging is 0700) and no one else can change while they read it. Worker thread.
#pragma once

#include <memory>
#include <string>

#include "base/progress.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/access.h"

namespace virtscratch::daemon {

inline constexpr char kStagingDirName[] = ".staging";

class StagedContent {
 public:
  // kAccessDenied naming the first entry (relative to the content directory) or directory above
  // it the reader may not read; kInvalidArgument for a FIFO, socket or device; kBusy for an entry
  // that changed during the copy; kNoSpace when the pool fills up; kCancelled when `progress`
  // says so. Nothing is left behind on error.
  static Result<std::unique_ptr<StagedContent>> stage(int poolFd, const OpenedContent& content,
                                                      ProgressSink* progress);
  ~StagedContent();  // removes the staged copy
  StagedContent(const StagedContent&) = delete;
  StagedContent& operator=(const StagedContent&) = delete;

  // A path to the staged copy that other processes (the mkfs tools) can open.
  const std::string& path() const { return path_; }

 private:
  StagedContent() = default;
  int poolFd_ = -1;
  UniqueFd stagingFd_;  // <pool>/.staging
  std::string name_;    // the copy's name in it
  UniqueFd rootFd_;
  std::string path_;
};

}  // namespace virtscratch::daemon
