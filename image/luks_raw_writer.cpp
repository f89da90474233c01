#include "image/luks_raw_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "base/file_io.h"
#include "image/xts_cipher.h"

namespace virtscratch::image {
namespace {

constexpr uint64_t kChunk = 1024 * 1024;

uint64_t totalLength(std::span<const SourceExtent> extents) {
  uint64_t total = 0;
  for (const SourceExtent& e : extents) total += e.length;
  return total;
}

}  // namespace

Status writeRawLuks(int fd, const LuksVolume& volume, uint64_t virtualSize,
                    std::span<const SourceExtent> extents, ProgressSink* progress) {
  uint64_t previousEnd = 0;
  for (const SourceExtent& e : extents) {
    if (e.guestOffset % kLuksSectorSize != 0 || e.length % kLuksSectorSize != 0 ||
        e.guestOffset < previousEnd || e.guestOffset + e.length > virtualSize) {
      return failed("guest bytes at offset " + std::to_string(e.guestOffset) + " (" +
                    std::to_string(e.length) + " bytes) are not whole sectors in order");
    }
    previousEnd = e.guestOffset + e.length;
  }
  if (ftruncate(fd, static_cast<off_t>(volume.payloadOffset + virtualSize)) != 0) {
    return errnoStatus("set the size of the raw LUKS image", errno);
  }
  VS_RETURN_IF_ERROR(writeAll(fd, volume.header.data(), volume.header.size(), 0));
  VS_RETURN_IF_ERROR(
      writeAll(fd, volume.material.data(), volume.material.size(), volume.materialOffset));
  VS_ASSIGN_OR_RETURN(XtsCipher cipher, XtsCipher::create(volume.masterKey));
  std::vector<uint8_t> buf(kChunk);
  const uint64_t total = totalLength(extents);
  uint64_t done = 0;
  for (const SourceExtent& e : extents) {
    for (uint64_t at = 0; at < e.length; at += kChunk) {
      if (progress != nullptr && progress->cancelled()) {
        return {ErrorCode::kCancelled, "raw LUKS image writing cancelled"};
      }
      uint64_t guest = e.guestOffset + at;
      std::span<uint8_t> chunk(buf.data(), std::min(kChunk, e.length - at));
      VS_RETURN_IF_ERROR(
          readAll(e.fd, chunk.data(), chunk.size(), e.sourceOffset + at)
              .withContext("reading guest bytes at offset " + std::to_string(guest)));
      VS_RETURN_IF_ERROR(cipher.encrypt(chunk, guest / kLuksSectorSize));
      VS_RETURN_IF_ERROR(writeAll(fd, chunk.data(), chunk.size(), volume.payloadOffset + guest));
      done += chunk.size();
      if (progress != nullptr) progress->report(done, total);
    }
  }
  return {};
}

}  // namespace virtscratch::image
