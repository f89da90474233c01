// Sizes as qemu-img writes them: plain bytes, or a number with an IEC suffix (K, M, G, T, P, E;
// 1K = 1024), optionally with a fraction ("1.5G"). "B" means bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace virtscratch::image {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;
inline constexpr uint64_t kTiB = 1024 * kGiB;
inline constexpr uint64_t kDefaultMaxImageSize = 64 * kTiB;

// Parses `text` into bytes. Rejects empty, zero, negative, malformed and overflowing sizes and
// sizes above `max`, with a message that names `text`.
Result<uint64_t> parseSize(std::string_view text, uint64_t max = kDefaultMaxImageSize);

// "10 GiB", "1.5 MiB", "512 B": for people.
std::string formatSize(uint64_t bytes);

}  // namespace virtscratch::image
