// Reading and validating a qcow2 header (versions 2 and 3) for the reader. Every field that later
// drives an offset or an allocation is checked here against the file size and QEMU's limits, so
// a hostile file cannot make the reader read outside the file or allocate without bound.
#pragma once

#include <cstdint>
#include <string>

#include "base/status.h"

namespace virtscratch::image::qcow2 {

struct Header {
  uint32_t version = 0;
  uint32_t clusterBits = 0;
  uint64_t clusterSize = 0;
  uint64_t size = 0;  // virtual size in bytes, as written
  uint64_t l1Offset = 0;
  uint64_t l1Entries = 0;  // the entries needed for `size`; the table may have more
  uint64_t incompatibleFeatures = 0;
  uint32_t snapshots = 0;     // internal snapshots (nb_snapshots), which the reader never reads
  std::string backingFile;    // as written; empty without a backing file
  std::string backingFormat;  // from the backing format extension; empty when absent
  // QEMU's LUKS encryption (crypt_method 2): where its LUKS header lies, from the crypto header
  // extension, inside the file; both 0 for an unencrypted image.
  bool luks = false;
  uint64_t cryptoOffset = 0;
  uint64_t cryptoLength = 0;
};

// Reads the header of the qcow2 file `fd` of `fileSize` bytes. Errors name `path` and the field:
// kFailed for a corrupt or truncated file, kInvalidArgument for features this reader does not
// support (AES encryption, external data files, extended L2 entries, zstd, unknown features).
// LUKS encryption is read into the header; opening it is the reader's.
Result<Header> readHeader(int fd, uint64_t fileSize, const std::string& path);

}  // namespace virtscratch::image::qcow2
