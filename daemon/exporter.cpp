#include "daemon/exporter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "daemon/record_file.h"
#include "vocabulary/pool_layout.h"

namespace virtscratch::daemon {

namespace {

// The image's file, or its domain directory, is not what the daemon made (a symlink or another
// kind of file put there behind its back): refused rather than followed.
Status notInPool(const ImageRecord& record, int err) {
  if (err == ELOOP || err == ENOTDIR) {
    return failed("cannot open " + record.path +
                  ": it or its directory is no longer a plain file or directory of the pool "
                  "(a symlink?); it is not followed");
  }
  return errnoStatus("cannot open " + record.path, err);
}

}  // namespace

Result<ExportTask> prepareExport(const Pool& pool, const ImageRecord& record, ExportParams params) {
  if (params.level < 1 || params.level > 9) {
    return invalidArgument("compression level " + std::to_string(params.level) +
                           " is not between 1 and 9");
  }
  if (params.threads > 256) {
    return invalidArgument("threads " + std::to_string(params.threads) + " is more than 256");
  }
  ExportTask task;
  VS_ASSIGN_OR_RETURN(task.output, checkExportOutput(std::move(params.output)));

  // One component at a time, neither followed if it is a symlink: O_NOFOLLOW on a path with a
  // slash would still follow a domain directory swapped for a symlink to elsewhere.
  UniqueFd domainDir(openat(pool.fd(), record.domainUuid.c_str(),
                            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!domainDir) return notInPool(record, errno);
  std::string name = vocabulary::imageFileName(record.target, record.spec.format);
  // O_NONBLOCK: a FIFO in its place must not hang the loop thread.
  UniqueFd image(
      openat(domainDir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!image) return notInPool(record, errno);
  struct stat st;
  if (fstat(image.get(), &st) != 0) return errnoStatus("cannot stat " + record.path, errno);
  if (!S_ISREG(st.st_mode)) return notInPool(record, ENOTDIR);
  task.image = std::make_shared<UniqueFd>(std::move(image));
  task.imagePath = record.path;
  task.level = params.level;
  // Unasked, an export compresses on every core but one: the one left is a starting VM's, whose
  // Allocate would otherwise wait for the CPU however free the workers are.
  unsigned cores = std::thread::hardware_concurrency();
  task.threads = params.threads != 0 ? params.threads : (cores > 1 ? cores - 1 : 1);
  return task;
}

Status runExport(const ExportTask& task, ImageEngine& engine, ProgressSink* progress) {
  UniqueFd image(fcntl(task.image->get(), F_DUPFD_CLOEXEC, 0));
  if (!image) return errnoStatus("dup", errno);
  // The format, backing file and size from the record, never from the guest's bytes; Export
  // writes exactly the record's virtual size.
  VS_ASSIGN_OR_RETURN(auto view, openPoolImage(std::move(image), task.imagePath, task.source));
  image::ExportOptions options;
  options.level = task.level;
  options.threads = task.threads;
  options.progress = progress;
  Status status = engine.exportGzip(*view, task.output.fd->get(), options);
  if (status.ok() && progress != nullptr && progress->cancelled()) {
    status = {ErrorCode::kCancelled, "export was cancelled"};
  }
  // Completed means on disk, as the old named file was when it got its name.
  if (status.ok() && task.output.regular && fsync(task.output.fd->get()) != 0) {
    status = errnoStatus("fsync " + task.output.shown, errno);
  }
  if (status.ok()) return {};
  Status emptied = emptyExportOutput(task.output);
  std::string after = !emptied.ok()         ? emptied.message()
                      : task.output.regular ? task.output.shown + " was emptied again"
                                            : "the stream in the pipe is incomplete";
  return {status.code(), status.message() + "; " + after};
}

}  // namespace virtscratch::daemon
