// LUKS version 1 volumes as QEMU opens them (its `luks` driver for raw images,
// `encrypt.format=luks` inside qcow2): aes-xts-plain64 with a random 512-bit master key, one active
// key slot that a passphrase unlocks (PBKDF2-HMAC-SHA256, the master key split over 4000
// anti-forensic stripes), the other seven disabled. The layout is QEMU's own: the header in the
// first 4 KiB, each slot's material 4 KiB-aligned after it, the payload at 2 MiB.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/xts_cipher.h"

namespace virtscratch::image {

// Random passphrases (the daemon's throwaway keys) are not guessable, so the key slot needs no
// more than LUKS1's minimum of PBKDF2 iterations; a human passphrase would.
inline constexpr uint32_t kLuksMinIterations = 1000;
inline constexpr uint64_t kLuksPayloadOffset = 2 * 1024 * 1024;

struct LuksVolume {
  std::array<uint8_t, kXtsKeyBytes> masterKey{};
  std::vector<uint8_t> header;    // the first 4 KiB: the LUKS1 header, zero-padded
  uint64_t materialOffset = 0;    // where key slot 0's material lies
  std::vector<uint8_t> material;  // key slot 0's material, encrypted under the passphrase
  uint64_t payloadOffset = kLuksPayloadOffset;
};

// A new volume with a fresh random master key, salts and UUID; slot 0 opens with `passphrase`
// (any bytes, at least one).
Result<LuksVolume> makeLuksVolume(std::string_view passphrase,
                                  uint32_t iterations = kLuksMinIterations);

// The master key of a LUKS1 volume as makeLuksVolume writes it (aes, xts-plain64, sha256, a
// 512-bit key), opened with `passphrase`. `head` is the volume from its start to its payload (the
// header and every key slot's material). kInvalidArgument when the passphrase opens no key slot;
// kFailed, naming the field, for a header of another kind or one that does not hold together.
struct OpenedLuks {
  std::array<uint8_t, kXtsKeyBytes> masterKey{};
  uint64_t payloadOffset = 0;
};
Result<OpenedLuks> openLuksVolume(std::span<const uint8_t> head, std::string_view passphrase);

// The payload offset a LUKS1 header (its first 4 KiB at least) gives, checked to be at most
// kLuksMaxPayloadOffset; kFailed when `header` is no LUKS1 header.
inline constexpr uint64_t kLuksMaxPayloadOffset = 16 * 1024 * 1024;
Result<uint64_t> luksPayloadOffset(std::span<const uint8_t> header);

// Fills `out` from the kernel's random number generator, as OpenSSL draws it.
Status randomBytes(std::span<uint8_t> out);

}  // namespace virtscratch::image
