// Export and import between image files and gzip streams, with the safety rules of the rest of
// the engine: outputs are built unnamed and named when complete; nothing is left on error.
#pragma once

#include <optional>
#include <string>

#include "base/progress.h"
#include "base/status.h"
#include "image/gzip_export.h"
#include "image/spec.h"

namespace virtscratch::image {

struct ExportRequest {
  std::string image;  // raw or qcow2; the guest's bytes are exported
  // As qemu-img's -f: nullopt probes the content (and refuses any backing file); a format
  // given lets a qcow2 image's backing files be followed by name.
  std::optional<ImageFormat> format;
  std::string passphrase;  // the key of an encrypted image (OpenOptions::passphrase)
  std::string output;      // a file, or "-" for standard output
  bool force = false;      // replace an existing output file
  ExportOptions gzip;
};

Status exportImage(const ExportRequest& request);

struct ImportRequest {
  // gzip (one or more members, checked by its magic), or with `from` a raw or qcow2 image;
  // "-" reads standard input, which must be gzip.
  std::string input;
  std::optional<ImageFormat> from;  // nullopt: the input must be gzip
  std::string output;
  ImageFormat format = ImageFormat::kRaw;
  bool force = false;
  ProgressSink* progress = nullptr;
};

Status importImage(const ImportRequest& request);

}  // namespace virtscratch::image
