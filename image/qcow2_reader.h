// Reads qcow2 images as a DiskView: the guest's bytes, through the L1/L2 tables, with zero
// clusters, compressed clusters (zlib), backing files and QEMU's LUKS encryption (given the
// passphrase). QEMU's old AES encryption, external data files and extended L2 entries are refused
// with a clear error. Prefer openImage (open_image.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "image/disk_view.h"
#include "image/open_image.h"

namespace virtscratch::image {

// True when the first bytes of `fd` are a qcow2 header magic.
Result<bool> isQcow2(int fd);

// A backing file named in the header is opened by `opener`; with none it is refused, naming it.
// An encrypted image opens only with `passphrase`, the key of its LUKS key slot.
Result<std::unique_ptr<DiskView>> openQcow2(UniqueFd fd, const std::string& path,
                                            const BackingOpener& opener = {},
                                            std::string_view passphrase = {});

}  // namespace virtscratch::image
