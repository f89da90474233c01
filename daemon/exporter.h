// Export of a pool image as gzip into a file descriptor the caller opened (export_output.h): the
// daemon, running as root, writes only where the caller could, whatever the unit's ProtectSystem
// or PrivateTmp. A failed or cancelled export leaves a regular file empty. prepareExport runs on
// the loop thread; runExport on a worker.
#pragma once

#include <memory>
#include <string>

#include "base/progress.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/export_output.h"
#include "daemon/image_engine.h"
#include "daemon/pool.h"
#include "daemon/pool_image.h"
#include "daemon/service.h"

namespace virtscratch::daemon {

struct ExportTask {
  std::shared_ptr<UniqueFd> image;  // the image, opened in the pool
  std::string imagePath;
  ExportOutput output;
  PoolImageSource source;  // how the image is read: set from its record (poolImageSource)
  int level = 1;
  unsigned threads = 0;
};

Result<ExportTask> prepareExport(const Pool& pool, const ImageRecord& record, ExportParams params);

Status runExport(const ExportTask& task, ImageEngine& engine, ProgressSink* progress);

}  // namespace virtscratch::daemon
