// The data clusters of a qcow2 image encrypted with QEMU's LUKS: every mapped cluster is written
// whole and encrypted, because QEMU decrypts whole clusters and a hole inside one would read as
// noise. The IV of each sector is its host offset over 512 (QEMU's crypt_physical_offset for
// LUKS). The cost stays proportional to the mapped clusters, never to the virtual size.
#pragma once

#include <cstdint>
#include <span>

#include "base/progress.h"
#include "base/status.h"
#include "image/qcow2_layout.h"

namespace virtscratch::image::qcow2 {

// Reads the plaintext of `extents` (zeros where none covers a mapped cluster) and writes it
// encrypted under `masterKey` at the clusters `layout` maps them to.
Status writeEncryptedClusters(int fd, const Layout& layout, std::span<const SourceExtent> extents,
                              std::span<const uint8_t> masterKey, ProgressSink* progress);

}  // namespace virtscratch::image::qcow2
