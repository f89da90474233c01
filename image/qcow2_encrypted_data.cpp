#include "image/qcow2_encrypted_data.h"

#include <algorithm>
#include <vector>

#include "base/file_io.h"
#include "image/xts_cipher.h"

namespace virtscratch::image::qcow2 {
namespace {

constexpr uint64_t kChunk = 1024 * 1024;  // a multiple of the cluster size
static_assert(kChunk % kWriterClusterSize == 0);

}  // namespace

Status writeEncryptedClusters(int fd, const Layout& layout, std::span<const SourceExtent> extents,
                              std::span<const uint8_t> masterKey, ProgressSink* progress) {
  VS_ASSIGN_OR_RETURN(XtsCipher cipher, XtsCipher::create(masterKey));
  uint64_t total = layout.dataClusters * kWriterClusterSize;
  uint64_t done = 0;
  std::vector<uint8_t> buf(kChunk);
  size_t first = 0;  // the first extent that may still overlap what comes next
  for (const ClusterRun& run : layout.runs) {
    uint64_t runStart = run.first * kWriterClusterSize;
    uint64_t runEnd = run.end * kWriterClusterSize;
    for (uint64_t from = runStart; from < runEnd; from += kChunk) {
      if (progress != nullptr && progress->cancelled()) {
        return {ErrorCode::kCancelled, "qcow2 image writing cancelled"};
      }
      uint64_t to = std::min(runEnd, from + kChunk);
      while (first < extents.size() && extents[first].guestOffset + extents[first].length <= from) {
        ++first;
      }
      // Only the gaps between extents are zeroed: most of a chunk is usually guest bytes.
      uint64_t filled = from;
      for (size_t i = first; i < extents.size() && extents[i].guestOffset < to; ++i) {
        const SourceExtent& e = extents[i];
        uint64_t a = std::max(from, e.guestOffset);
        uint64_t b = std::min(to, e.guestOffset + e.length);
        if (a >= b) continue;
        std::fill(buf.begin() + static_cast<ptrdiff_t>(filled - from),
                  buf.begin() + static_cast<ptrdiff_t>(a - from), 0);
        VS_RETURN_IF_ERROR(
            readAll(e.fd, &buf[a - from], b - a, e.sourceOffset + (a - e.guestOffset))
                .withContext("reading guest bytes at offset " + std::to_string(a)));
        filled = b;
      }
      std::fill(buf.begin() + static_cast<ptrdiff_t>(filled - from),
                buf.begin() + static_cast<ptrdiff_t>(to - from), 0);
      uint64_t host = layout.hostOffset(run, from);
      std::span<uint8_t> chunk(buf.data(), to - from);
      VS_RETURN_IF_ERROR(cipher.encrypt(chunk, host / kLuksSectorSize));
      VS_RETURN_IF_ERROR(writeAll(fd, chunk.data(), chunk.size(), host));
      done += to - from;
      if (progress != nullptr) progress->report(done, total);
    }
  }
  return {};
}

}  // namespace virtscratch::image::qcow2
