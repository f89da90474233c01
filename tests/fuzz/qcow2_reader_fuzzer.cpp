// Fuzzes the qcow2 reader with arbitrary files: opening, listing data extents and reading
// through the tables must never crash or read out of bounds, whatever the header says.
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "image/open_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace virtscratch;
  UniqueFd fd(memfd_create("fuzz-qcow2", MFD_CLOEXEC));
  if (!fd) std::abort();
  if (size > 0 && !writeAll(fd.get(), data, size, 0).ok()) std::abort();
  // As qcow2, following backing files by name (the most the engine ever does with a header), in
  // a directory with nothing in it, so that a backing file name resolves to nothing.
  image::OpenOptions options;
  options.format = image::ImageFormat::kQcow2;
  options.backing = image::BackingPolicy::kFollowByName;
  auto view = image::openImage(std::move(fd), "/nonexistent-fuzz-dir/image.qcow2", options);
  if (!view.ok()) return 0;
  // In windows, as export and info read them.
  auto extents = (*view)->dataExtents(0, std::min<uint64_t>((*view)->virtualSize(), 1 << 30));
  if (!extents.ok()) return 0;
  std::vector<uint8_t> buf(64 * 1024);
  int reads = 0;
  for (const auto& e : *extents) {
    if (++reads > 16) break;
    size_t n = static_cast<size_t>(std::min<uint64_t>(e.length, buf.size()));
    (void)(*view)->read(e.offset, std::span<uint8_t>(buf.data(), n));
  }
  return 0;
}
