#include "image/encrypt_image.h"

#include <algorithm>
#include <vector>

#include "base/file_io.h"
#include "base/temp_file.h"
#include "base/utf8.h"
#include "image/luks_header.h"
#include "image/luks_raw_writer.h"
#include "image/output_path.h"
#include "image/qcow2_writer.h"

namespace virtscratch::image {

Status encryptRawImageAt(int rawFd, uint64_t virtualSize, int dirFd, std::string_view name,
                         ImageFormat format, const std::string& passphrase,
                         std::optional<mode_t> mode) {
  VS_RETURN_IF_ERROR(checkFileName(name));
  if (passphrase.empty() || firstInvalidUtf8(passphrase)) {
    return invalidArgument("an encrypted image needs a passphrase of UTF-8 text");
  }
  VS_RETURN_IF_ERROR(checkDestination(dirFd, name, false));
  VS_ASSIGN_OR_RETURN(std::vector<Extent> data, dataExtents(rawFd, 0, virtualSize));
  std::vector<SourceExtent> sources;
  sources.reserve(data.size());
  for (const Extent& e : data) sources.push_back({e.offset, e.length, rawFd, e.offset});
  VS_ASSIGN_OR_RETURN(TempFile image, TempFile::create(dirFd, mode));
  VS_ASSIGN_OR_RETURN(LuksVolume luks, makeLuksVolume(passphrase));
  Status written;
  if (format == ImageFormat::kRaw) {
    written = writeRawLuks(image.fd(), luks, virtualSize, sources, nullptr);
  } else {
    Qcow2WriteOptions options;
    options.virtualSize = virtualSize;
    options.luks = &luks;
    written = writeQcow2(image.fd(), options, sources);
  }
  std::fill(luks.masterKey.begin(), luks.masterKey.end(), 0);
  VS_RETURN_IF_ERROR(written);
  return image.publish(name, false);
}

}  // namespace virtscratch::image
