// Export and import between image files and gzip streams, with the safety rules of the rest of
// the engine: outputs are built unnamed and named when complete; nothing is left on error.
#pragma once

#include <string>

#include "image/gzip_export.h"
#include "image/progress.h"
#include "image/spec.h"
#include "image/status.h"

namespace virtscratch::image {

struct ExportRequest {
  std::string image;   // raw or qcow2; the guest's bytes are exported
  std::string output;  // a file, or "-" for standard output
  bool force = false;  // replace an existing output file
  ExportOptions gzip;
};

Status exportImage(const ExportRequest& request);

struct ImportRequest {
  // gzip (one or more members), raw or qcow2; "-" reads standard input, which must be gzip.
  std::string input;
  std::string output;
  ImageFormat format = ImageFormat::kRaw;
  bool force = false;
  ProgressSink* progress = nullptr;
};

Status importImage(const ImportRequest& request);

}  // namespace virtscratch::image
