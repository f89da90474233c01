// Little-endian integers in on-disk structures (ext2/3/4 superblocks, GPT, MBR, FAT, swap, gzip
// trailers): loads and stores that never depend on the host's byte order or alignment.
#pragma once

#include <cstdint>

namespace virtscratch::little_endian {

inline uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t load32(const uint8_t* p) {
  return uint32_t{load16(p)} | uint32_t{load16(p + 2)} << 16;
}
inline uint64_t load64(const uint8_t* p) {
  return uint64_t{load32(p)} | uint64_t{load32(p + 4)} << 32;
}
inline void store32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace virtscratch::little_endian
