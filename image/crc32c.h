// CRC-32C (Castagnoli), as ext4 checksums its metadata: the reflected polynomial 0x82F63B78, no
// final inversion, so that ext4's "crc32c_le(~0, bytes)" is crc32c(0xFFFFFFFF, bytes).
#pragma once

#include <cstdint>
#include <span>

namespace virtscratch::image {

// Continues a CRC-32C from `crc` over `bytes`.
uint32_t crc32c(uint32_t crc, std::span<const uint8_t> bytes);

}  // namespace virtscratch::image
