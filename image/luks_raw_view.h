// Reading what QEMU's LUKS encryption hides: decrypting reads of aes-xts-plain64 sectors, and the
// guest's bytes of a raw LUKS image (QEMU's `luks` driver) as a DiskView. Holes in a raw LUKS
// file are sectors nobody ever wrote: QEMU shows the guest noise there (their zeros decrypted),
// which means nothing, so the view reads them as zeros and keeps them out of dataExtents, as a
// guest's discard would have left them; everything else is decrypted.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"
#include "image/disk_view.h"
#include "image/xts_cipher.h"

namespace virtscratch::image {

// Reads `out.size()` bytes of `fd` at `fileOffset` and decrypts them, the sector at `ivOffset`
// (the same distance from a sector boundary as `fileOffset`) numbered ivOffset / 512: whole
// sectors are read and decrypted, then the asked part is copied out. Safe on any thread.
Status readDecrypted(int fd, uint64_t fileOffset, uint64_t ivOffset, std::span<uint8_t> out,
                     std::span<const uint8_t> masterKey);

// Opens the raw LUKS image `fd` (named `path` in messages) with `passphrase`.
Result<std::unique_ptr<DiskView>> openRawLuksView(UniqueFd fd, const std::string& path,
                                                  std::string_view passphrase);

}  // namespace virtscratch::image
