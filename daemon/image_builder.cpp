#include "daemon/image_builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "daemon/content_staging.h"
#include "daemon/file_modes.h"
#include "daemon/template_files.h"
#include "vocabulary/pool_layout.h"

namespace virtscratch::daemon {
namespace {

uint64_t nowUs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

Status createCold(const BuildTask& task, const std::string& name) {
  image::CreateOptions options;
  options.maxSize = task.maxSize;
  options.progress = task.progress;
  options.mode = kPrivateFileMode;
  options.passphrase = task.passphrase;
  if (!task.content) return task.engine->create(task.domainDir->get(), name, task.spec, options);
  VS_ASSIGN_OR_RETURN(auto staged, StagedContent::stage(task.poolFd, *task.content, task.progress));
  image::ImageSpec spec = task.spec;
  spec.contentDir = staged->path();
  return task.engine->create(task.domainDir->get(), name, spec, options);
}

Status cloneFrom(const BuildTask& task, const TemplateSource& source, const std::string& name) {
  UniqueFd fd(openat(source.dirFd, source.fileName.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errnoStatus("open template " + source.path, errno);
  image::CloneOptions options;
  options.source.format = source.format;  // the daemon's record, never the content; no backing
  options.backing = source.overlay;
  options.filesystemUuid = task.spec.uuid;
  options.progress = task.progress;
  options.mode = kPrivateFileMode;
  return task.engine->clone(fd.get(), source.path, task.domainDir->get(), name, options);
}

bool worthACold(const Status& status) {
  switch (status.code()) {
    case ErrorCode::kCancelled:
    case ErrorCode::kNoSpace:
    case ErrorCode::kAlreadyExists:
      return false;
    default:
      return true;
  }
}

// The pool's filesystem filling up while the image is made (the check before the build is an
// estimate: content is not counted, and other writers share the filesystem) must reach the
// caller as NoSpace. Our own writes carry ENOSPC in their code, and then say what to do; the mkfs
// tools say it only in their message, which tells already that either the content or the host
// lacks room.
Status noSpaceAsSuch(Status status) {
  if (status.code() == ErrorCode::kNoSpace) {
    return {ErrorCode::kNoSpace, status.message() +
                                     "; the pool's filesystem is full: release images, free "
                                     "space there or ask for less"};
  }
  if (status.code() == ErrorCode::kFailed &&
      status.message().find("No space left on device") != std::string::npos) {
    return {ErrorCode::kNoSpace, status.message()};
  }
  return status;
}

}  // namespace

bool needsDurableRecordName(const ImageRecord& r) {
  return r.lifetime != vocabulary::Lifetime::kBoot || !r.host.empty() || r.incoming ||
         r.spec.encryption != image::Encryption::kNone;
}

BuildOutcome buildImage(BuildTask task, const TemplateSource* source) {
  BuildOutcome out;
  bool adopted = false;
  const ImageRecord& r = task.stored.record;
  std::string name = vocabulary::imageFileName(r.target, r.spec.format);
  if (task.progress != nullptr && task.progress->cancelled()) {
    out.status = {ErrorCode::kCancelled, "allocation of " + r.id + " was cancelled"};
    return out;
  }
  task.stored.templateName.clear();
  if (source != nullptr && !source->spareFile.empty()) {
    if (renameat2(source->dirFd, source->spareFile.c_str(), task.domainDir->get(), name.c_str(),
                  RENAME_NOREPLACE) == 0) {
      task.stored.record.filesystemUuid = source->spareUuid;
      if (source->overlay) task.stored.templateName = source->name;
      source = nullptr;
      adopted = true;
    } else if (errno == EEXIST) {
      out.status = errnoStatus("create " + r.path, errno);
      return out;
    } else {
      out.cloneError =
          "spare " + source->spareFile + " could not be moved: " + std::strerror(errno);
      unlinkat(source->dirFd, source->spareFile.c_str(), 0);
      if (source->encrypted) source = nullptr;
    }
  }
  if (source != nullptr) {
    Status cloned = cloneFrom(task, *source, name);
    if (cloned.ok()) {
      if (source->overlay) task.stored.templateName = source->name;
    } else if (worthACold(cloned)) {
      out.cloneError = cloned.message();
      source = nullptr;
    } else {
      out.status = noSpaceAsSuch(cloned);
      return out;
    }
  }
  if (source == nullptr && !adopted) {
    out.cold = true;
    out.status = noSpaceAsSuch(createCold(task, name));
    if (!out.status.ok()) return out;
  }
  task.stored.record.createdUs = nowUs();
  out.status = writeRecordAt(task.domainDir->get(), task.stored, needsDurableRecordName(r));
  if (!out.status.ok()) {
    // Neither half may stay: the record has its name already when only the fsync of the
    // directory failed. Any record of this target that was there is one that would have been
    // replaced: it described no image, as the image's name was free.
    unlinkat(task.domainDir->get(), recordFileName(r.target).c_str(), 0);
    unlinkat(task.domainDir->get(), name.c_str(), 0);
    out.status = noSpaceAsSuch(out.status);
    return out;
  }
  out.stored = std::move(task.stored);
  return out;
}

}  // namespace virtscratch::daemon
