// Export of a pool image to a gzip file for a caller. The daemon runs as root, so the
// destination is checked as the caller: an absolute path whose directory the caller may search
// and write; the file is built unnamed there, given to the caller (chown) and named only when
// complete, never replacing anything. prepareExport runs on the loop thread; runExport on a
// worker.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "daemon/pool.h"
#include "daemon/pool_image.h"
#include "daemon/service.h"
#include "image/progress.h"
#include "image/status.h"
#include "image/unique_fd.h"

namespace virtscratch::daemon {

struct ExportTask {
  std::shared_ptr<UniqueFd> image;  // the image, opened in the pool
  std::string imagePath;
  PoolImageSource source;  // how the image is read: set from its record (poolImageSource)
  std::shared_ptr<UniqueFd> destDir;
  std::string destName;
  std::string destination;  // as given, for messages
  uid_t uid = 0;
  gid_t gid = static_cast<gid_t>(-1);
  int level = 1;
  unsigned threads = 0;
};

Result<ExportTask> prepareExport(const Pool& pool, const ImageRecord& record, uid_t uid,
                                 const ExportParams& params);

Status runExport(const ExportTask& task, image::ProgressSink* progress);

}  // namespace virtscratch::daemon
