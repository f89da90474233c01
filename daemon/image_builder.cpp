#include "daemon/image_builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "image/clone.h"
#include "image/creator.h"

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
  return image::createImageAt(task.domainDir->get(), name, task.spec, options);
}

Status cloneFrom(const BuildTask& task, const TemplateSource& source, const std::string& name) {
  UniqueFd fd(openat(source.dirFd, source.fileName.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errnoStatus("open template " + source.path, errno);
  image::CloneOptions options;
  options.backing = source.overlay;
  options.filesystemUuid = task.spec.uuid;
  options.progress = task.progress;
  return image::cloneImageAt(fd.get(), source.path, task.domainDir->get(), name, options);
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

}  // namespace

BuildOutcome buildImage(BuildTask task, const TemplateSource* source) {
  BuildOutcome out;
  bool adopted = false;
  const ImageRecord& r = task.stored.record;
  std::string name = imageFileName(r.target, r.spec.format);
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
      out.status = cloned;
      return out;
    }
  }
  if (source == nullptr && !adopted) {
    out.cold = true;
    out.status = createCold(task, name);
    if (!out.status.ok()) return out;
  }
  task.stored.record.createdUs = nowUs();
  out.status = writeRecordAt(task.domainDir->get(), task.stored);
  if (!out.status.ok()) {
    unlinkat(task.domainDir->get(), name.c_str(), 0);
    return out;
  }
  out.stored = std::move(task.stored);
  return out;
}

}  // namespace virtscratch::daemon
