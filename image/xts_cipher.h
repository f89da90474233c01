// AES-256 in XTS mode with the plain64 IV, as LUKS and QEMU's LUKS driver use it: every 512-byte
// sector is encrypted on its own, its IV the sector's number as a 64-bit little-endian integer
// padded with zeros. The cipher is OpenSSL's libcrypto (see docs/design.md for why); no cipher
// code lives here. One object belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/status.h"

namespace virtscratch::image {

inline constexpr size_t kXtsKeyBytes = 64;  // two AES-256 keys
inline constexpr size_t kLuksSectorSize = 512;

class XtsCipher {
 public:
  // `key` must be kXtsKeyBytes long; OpenSSL refuses a key whose two halves are equal.
  static Result<XtsCipher> create(std::span<const uint8_t> key);

  // Encrypts (or decrypts) `data` in place; its length must be a multiple of kLuksSectorSize,
  // the first sector numbered `firstSector`.
  Status encrypt(std::span<uint8_t> data, uint64_t firstSector);
  Status decrypt(std::span<uint8_t> data, uint64_t firstSector);

  XtsCipher(XtsCipher&&) noexcept;
  XtsCipher& operator=(XtsCipher&&) noexcept;
  ~XtsCipher();

 private:
  struct Contexts;
  explicit XtsCipher(std::unique_ptr<Contexts> contexts);
  Status run(bool encrypt, std::span<uint8_t> data, uint64_t firstSector);
  std::unique_ptr<Contexts> contexts_;
};

}  // namespace virtscratch::image
