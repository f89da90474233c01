#include "daemon/content_staging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>

#include "base/file_io.h"
#include "daemon/file_permission.h"
#include "image/content_copy.h"
#include "image/content_tree.h"

namespace virtscratch::daemon {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string randomName() {
  std::random_device random;
  char name[32];
  std::snprintf(name, sizeof name, "content-%08x%08x", random(), random());
  return name;
}

// <pool>/.staging, made 0700 when missing and put right when it is not (it holds copies of
// files the callers may read and others may not).
Result<UniqueFd> openStagingDir(int poolFd) {
  UniqueFd fd;
  // Another allocation's end may remove it, empty, between the mkdirat and the openat.
  for (int attempt = 0; !fd; ++attempt) {
    if (mkdirat(poolFd, kStagingDirName, 0700) != 0 && errno != EEXIST) {
      return errnoStatus(std::string("create the pool's ") + kStagingDirName, errno);
    }
    fd.reset(openat(poolFd, kStagingDirName, kDirFlags));
    if (!fd && (errno != ENOENT || attempt == 8)) {
      return errnoStatus(std::string("open the pool's ") + kStagingDirName, errno);
    }
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat .staging", errno);
  if ((st.st_uid != 0 || (st.st_mode & 07777) != 0700) &&
      (fchown(fd.get(), 0, 0) != 0 || fchmod(fd.get(), 0700) != 0)) {
    return errnoStatus("make the pool's .staging private", errno);
  }
  return fd;
}

std::string uidText(const Caller& reader) { return "uid " + std::to_string(reader.uid); }

Status checkAncestors(const OpenedContent& content) {
  if (content.reader.uid != 0 && content.reader.groups.empty()) {
    // Without its groups a caller could be judged as "other" where a group entry denies it.
    return {ErrorCode::kAccessDenied, "the groups of the caller (" + uidText(content.reader) +
                                          ") are unknown, so its right to read content is too"};
  }
  for (const OpenedContent::Ancestor& a : content.ancestors) {
    struct stat st;
    if (fstat(a.fd.get(), &st) != 0) return errnoStatus("stat '" + a.path + "'", errno);
    VS_ASSIGN_OR_RETURN(
        bool ok, permitsFd(content.reader.uid, content.reader.groups, a.fd.get(), st, kMaySearch));
    if (!ok) {
      return {ErrorCode::kAccessDenied, uidText(content.reader) + " may not search '" + a.path +
                                            "', above the content '" + content.resolved + "'"};
    }
  }
  return {};
}

class ReaderCheck {
 public:
  ReaderCheck(const OpenedContent& content, ProgressSink* progress)
      : content_(content), progress_(progress) {}

  Status operator()(const image::CopiedEntry& e) const {
    if (progress_ != nullptr && progress_->cancelled()) {
      return {ErrorCode::kCancelled, "cancelled while copying the content"};
    }
    bool dir = S_ISDIR(e.st.st_mode);
    unsigned want = dir ? kMayRead | kMaySearch : kMayRead;
    auto ok = permitsFd(content_.reader.uid, content_.reader.groups, e.fd, e.st, want);
    if (!ok.ok()) return ok.status().withContext("content " + where(e));
    if (*ok) return {};
    return {ErrorCode::kAccessDenied, uidText(content_.reader) + " may not " +
                                          (dir ? "read and search" : "read") + " content " +
                                          (dir ? "directory " : "file ") + where(e)};
  }

 private:
  std::string where(const image::CopiedEntry& e) const {
    std::string at = "in '" + content_.resolved + "'";
    return e.path.empty() ? "'.' (" + at + ")" : image::quoted(e.path) + " (" + at + ")";
  }

  const OpenedContent& content_;
  ProgressSink* progress_;
};

}  // namespace

Result<std::unique_ptr<StagedContent>> StagedContent::stage(int poolFd,
                                                            const OpenedContent& content,
                                                            ProgressSink* progress) {
  VS_RETURN_IF_ERROR(checkAncestors(content));
  std::unique_ptr<StagedContent> staged(new StagedContent());
  // Another allocation's end may remove an empty .staging between its opening and the mkdirat
  // here (ENOENT): it is made again.
  for (int attempt = 0; staged->name_.empty(); ++attempt) {
    if (!staged->stagingFd_) {
      VS_ASSIGN_OR_RETURN(staged->stagingFd_, openStagingDir(poolFd));
    }
    std::string name = randomName();
    if (mkdirat(staged->stagingFd_.get(), name.c_str(), 0700) == 0) {
      staged->name_ = name;
    } else if ((errno != EEXIST && errno != ENOENT) || attempt == 8) {
      return errnoStatus("create a staging directory in the pool", errno);
    } else if (errno == ENOENT) {
      staged->stagingFd_.reset();
    }
  }
  staged->poolFd_ = poolFd;
  staged->rootFd_.reset(openat(staged->stagingFd_.get(), staged->name_.c_str(), kDirFlags));
  if (!staged->rootFd_) return errnoStatus("open the staging directory", errno);
  VS_RETURN_IF_ERROR(image::copyContentTree(content.fd.get(), staged->rootFd_.get(),
                                            ReaderCheck(content, progress)));
  staged->path_ = procPathOf(staged->rootFd_.get());
  return staged;
}

StagedContent::~StagedContent() {
  rootFd_.reset();
  if (stagingFd_ && !name_.empty()) (void)image::removeTree(stagingFd_.get(), name_);
  // Empty, it goes too (ENOTEMPTY while others stage), so that an idle pool has no trace.
  if (poolFd_ >= 0) (void)unlinkat(poolFd_, kStagingDirName, AT_REMOVEDIR);
}

}  // namespace virtscratch::daemon
