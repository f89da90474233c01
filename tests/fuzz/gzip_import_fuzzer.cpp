// Fuzzes the gzip importer with arbitrary streams: it must never crash, and whatever it accepts
// must have a size that matches the file it wrote.
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "image/gzip_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace virtscratch;
  UniqueFd in(memfd_create("fuzz-in", MFD_CLOEXEC));
  UniqueFd out(memfd_create("fuzz-out", MFD_CLOEXEC));
  if (!in || !out) std::abort();
  if (size > 0 && !writeAll(in.get(), data, size, 0).ok()) std::abort();
  auto imported = image::importGzip(in.get(), out.get(), {});
  if (imported.ok()) {
    struct stat st;
    if (fstat(out.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) != *imported) std::abort();
  } else if (imported.status().message().empty()) {
    std::abort();
  }
  return 0;
}
