// What both gzip directions share to make holes cost nothing: spotting all-zero blocks, and
// extending a CRC-32 over a run of zeros without reading them. Pure functions, any thread.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace virtscratch::image {

// Whether all `size` bytes at `data` are zero; true for an empty range.
inline bool isAllZero(const uint8_t* data, size_t size) {
  // Comparing the range with itself shifted by one lets libc's vectorised memcmp do the scan.
  return size == 0 || (data[0] == 0 && std::memcmp(data, data + 1, size - 1) == 0);
}

// The CRC-32 (as zlib's crc32) of the bytes that gave `crc` followed by `count` zero bytes.
inline uint32_t crc32ExtendZeros(uint32_t crc, uint64_t count) {
  // Feeding zeros to the (inverted) CRC register only multiplies it by x^(8*count) mod P, which
  // is what crc32_combine does to its first argument when the second CRC is 0.
  return static_cast<uint32_t>(crc32_combine(crc ^ 0xffffffffUL, 0, static_cast<z_off_t>(count)) ^
                               0xffffffffUL);
}

}  // namespace virtscratch::image
