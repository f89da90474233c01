#include "image/xts_cipher.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <string>

namespace virtscratch::image {
namespace {

struct CipherContextFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextFree>;

Status opensslError(const std::string& what) {
  unsigned long code = ERR_get_error();
  char text[256] = "unknown error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return failed(what + ": " + text);
}

Result<CipherContext> makeContext(std::span<const uint8_t> key, bool encrypt) {
  CipherContext ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return opensslError("allocating an AES-XTS context");
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_xts(), nullptr, key.data(), nullptr,
                        encrypt ? 1 : 0) != 1) {
    return opensslError("setting the AES-XTS key");
  }
  return ctx;
}

}  // namespace

struct XtsCipher::Contexts {
  CipherContext encrypt;
  CipherContext decrypt;
};

XtsCipher::XtsCipher(std::unique_ptr<Contexts> contexts) : contexts_(std::move(contexts)) {}
XtsCipher::XtsCipher(XtsCipher&&) noexcept = default;
XtsCipher& XtsCipher::operator=(XtsCipher&&) noexcept = default;
XtsCipher::~XtsCipher() = default;

Result<XtsCipher> XtsCipher::create(std::span<const uint8_t> key) {
  if (key.size() != kXtsKeyBytes) {
    return invalidArgument("an AES-256-XTS key has " + std::to_string(kXtsKeyBytes) +
                           " bytes, not " + std::to_string(key.size()));
  }
  auto contexts = std::make_unique<Contexts>();
  VS_ASSIGN_OR_RETURN(contexts->encrypt, makeContext(key, true));
  VS_ASSIGN_OR_RETURN(contexts->decrypt, makeContext(key, false));
  return XtsCipher(std::move(contexts));
}

Status XtsCipher::encrypt(std::span<uint8_t> data, uint64_t firstSector) {
  return run(true, data, firstSector);
}

Status XtsCipher::decrypt(std::span<uint8_t> data, uint64_t firstSector) {
  return run(false, data, firstSector);
}

Status XtsCipher::run(bool encrypt, std::span<uint8_t> data, uint64_t firstSector) {
  if (data.size() % kLuksSectorSize != 0) {
    return invalidArgument(std::to_string(data.size()) + " bytes are not whole " +
                           std::to_string(kLuksSectorSize) + "-byte sectors");
  }
  EVP_CIPHER_CTX* ctx = encrypt ? contexts_->encrypt.get() : contexts_->decrypt.get();
  uint8_t iv[16] = {};
  for (size_t at = 0; at < data.size(); at += kLuksSectorSize) {
    uint64_t sector = firstSector + at / kLuksSectorSize;
    for (int i = 0; i < 8; ++i) iv[i] = static_cast<uint8_t>(sector >> (8 * i));
    int written = 0;
    uint8_t* p = data.data() + at;
    if (EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, iv, -1) != 1 ||
        EVP_CipherUpdate(ctx, p, &written, p, static_cast<int>(kLuksSectorSize)) != 1 ||
        written != static_cast<int>(kLuksSectorSize)) {
      return opensslError("AES-XTS of sector " + std::to_string(sector));
    }
  }
  return {};
}

}  // namespace virtscratch::image
