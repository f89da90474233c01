#include "image/luks_header.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "base/big_endian.h"

namespace virtscratch::image {
namespace {

// LUKS1 on-disk header (cryptsetup's "LUKS On-Disk Format Specification", version 1.2.3); every
// integer is big-endian.
constexpr size_t kOffVersion = 6;
constexpr size_t kOffCipherName = 8;
constexpr size_t kOffCipherMode = 40;
constexpr size_t kOffHashSpec = 72;
constexpr size_t kOffPayloadOffset = 104;
constexpr size_t kOffKeyBytes = 108;
constexpr size_t kOffMkDigest = 112;
constexpr size_t kOffMkDigestSalt = 132;
constexpr size_t kOffMkDigestIterations = 164;
constexpr size_t kOffUuid = 168;
constexpr size_t kOffKeySlots = 208;
constexpr size_t kKeySlotSize = 48;
constexpr size_t kKeySlots = 8;
constexpr size_t kDigestBytes = 20;
constexpr size_t kSaltBytes = 32;
constexpr uint32_t kSlotEnabled = 0x00AC71F3;
constexpr uint32_t kSlotDisabled = 0x0000DEAD;
constexpr uint32_t kStripes = 4000;
constexpr uint64_t kHeaderBytes = 4096;
constexpr uint64_t kSector = kLuksSectorSize;
constexpr uint64_t kSlotBytes =
    (kXtsKeyBytes * kStripes + kHeaderBytes - 1) / kHeaderBytes * kHeaderBytes;  // 504 sectors each
static_assert(kHeaderBytes + kKeySlots * kSlotBytes <= kLuksPayloadOffset);

using big_endian::load32;
using big_endian::store32;

void putString(uint8_t* p, std::string_view s) { std::copy(s.begin(), s.end(), p); }

// A NUL-padded text field of the header.
std::string_view field(std::span<const uint8_t> h, size_t at, size_t length) {
  std::string_view text(reinterpret_cast<const char*>(&h[at]), length);
  return text.substr(0, text.find('\0'));
}

// PBKDF2 costs grow with the iterations a header asks for: more than this is no header of ours.
constexpr uint32_t kMaxIterations = 10'000'000;

Status pbkdf2(std::span<const uint8_t> password, std::span<const uint8_t> salt, uint32_t iterations,
              std::span<uint8_t> out) {
  if (PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(password.data()),
                        static_cast<int>(password.size()), salt.data(),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1) {
    return failed("PBKDF2-HMAC-SHA256 failed");
  }
  return {};
}

struct DigestFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
  void operator()(EVP_MD* md) const { EVP_MD_free(md); }
};

// LUKS1's anti-forensic diffusion with SHA-256: each 32-byte block replaced by the hash of its
// big-endian index followed by the block. The digest is fetched once: a fetch per hash would
// cost more than the hash.
class Diffuser {
 public:
  static Result<Diffuser> create() {
    Diffuser d;
    d.md_.reset(EVP_MD_fetch(nullptr, "SHA256", nullptr));
    d.ctx_.reset(EVP_MD_CTX_new());
    if (!d.md_ || !d.ctx_) return failed("OpenSSL has no SHA-256");
    return d;
  }

  Status diffuse(std::span<uint8_t> block) {
    for (size_t i = 0; i * kHash < block.size(); ++i) {
      size_t at = i * kHash;
      size_t n = std::min<size_t>(kHash, block.size() - at);
      uint8_t index[4];
      store32(index, static_cast<uint32_t>(i));
      uint8_t digest[kHash];
      if (EVP_DigestInit_ex2(ctx_.get(), md_.get(), nullptr) != 1 ||
          EVP_DigestUpdate(ctx_.get(), index, sizeof index) != 1 ||
          EVP_DigestUpdate(ctx_.get(), block.data() + at, n) != 1 ||
          EVP_DigestFinal_ex(ctx_.get(), digest, nullptr) != 1) {
        return failed("SHA-256 failed");
      }
      std::copy(digest, digest + n, block.data() + at);
    }
    return {};
  }

 private:
  static constexpr size_t kHash = 32;
  std::unique_ptr<EVP_MD, DigestFree> md_;
  std::unique_ptr<EVP_MD_CTX, DigestFree> ctx_;
};

// AF-split: kStripes - 1 random stripes folded (xor, diffuse) into the last, which is xored
// with the key; all stripes together give the key back, any one lost loses it.
Result<std::vector<uint8_t>> splitKey(std::span<const uint8_t> key) {
  std::vector<uint8_t> stripes(key.size() * kStripes);
  std::span<uint8_t> random(stripes.data(), key.size() * (kStripes - 1));
  VS_RETURN_IF_ERROR(randomBytes(random));
  VS_ASSIGN_OR_RETURN(Diffuser diffuser, Diffuser::create());
  std::vector<uint8_t> folded(key.size(), 0);
  for (uint32_t s = 0; s + 1 < kStripes; ++s) {
    const uint8_t* stripe = stripes.data() + s * key.size();
    for (size_t i = 0; i < key.size(); ++i) folded[i] ^= stripe[i];
    VS_RETURN_IF_ERROR(diffuser.diffuse(folded));
  }
  uint8_t* last = stripes.data() + (kStripes - 1) * key.size();
  for (size_t i = 0; i < key.size(); ++i) last[i] = folded[i] ^ key[i];
  return stripes;
}

// AF-merge, the inverse of splitKey.
Result<std::array<uint8_t, kXtsKeyBytes>> mergeKey(std::span<const uint8_t> stripes) {
  VS_ASSIGN_OR_RETURN(Diffuser diffuser, Diffuser::create());
  std::array<uint8_t, kXtsKeyBytes> folded{};
  for (uint32_t s = 0; s + 1 < kStripes; ++s) {
    const uint8_t* stripe = stripes.data() + s * kXtsKeyBytes;
    for (size_t i = 0; i < kXtsKeyBytes; ++i) folded[i] ^= stripe[i];
    VS_RETURN_IF_ERROR(diffuser.diffuse(folded));
  }
  const uint8_t* last = stripes.data() + (kStripes - 1) * kXtsKeyBytes;
  for (size_t i = 0; i < kXtsKeyBytes; ++i) folded[i] ^= last[i];
  return folded;
}

std::string formatUuid(const uint8_t (&b)[16]) {
  char text[37];
  std::snprintf(text, sizeof text,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return text;
}

// The master key slot `slot` holds, if `passphrase` opens it.
Result<std::optional<std::array<uint8_t, kXtsKeyBytes>>> trySlot(std::span<const uint8_t> head,
                                                                 const uint8_t* slot,
                                                                 std::string_view passphrase) {
  using Key = std::array<uint8_t, kXtsKeyBytes>;
  uint32_t iterations = load32(slot + 4);
  uint64_t material = uint64_t{load32(slot + 40)} * kSector;
  uint32_t stripes = load32(slot + 44);
  if (stripes != kStripes || iterations == 0 || iterations > kMaxIterations ||
      material < kHeaderBytes || material > head.size() ||
      head.size() - material < kXtsKeyBytes * kStripes) {
    return failed("the LUKS key slot at header offset " + std::to_string(slot - head.data()) +
                  " does not hold together (" + std::to_string(stripes) + " stripes, " +
                  std::to_string(iterations) + " iterations, material at " +
                  std::to_string(material) + ")");
  }
  Key slotKey{};
  std::span<const uint8_t> pass(reinterpret_cast<const uint8_t*>(passphrase.data()),
                                passphrase.size());
  VS_RETURN_IF_ERROR(
      pbkdf2(pass, std::span<const uint8_t>(slot + 8, kSaltBytes), iterations, slotKey));
  std::vector<uint8_t> stripesData(
      head.begin() + static_cast<ptrdiff_t>(material),
      head.begin() + static_cast<ptrdiff_t>(material) + kXtsKeyBytes * kStripes);
  auto cipher = XtsCipher::create(slotKey);
  std::fill(slotKey.begin(), slotKey.end(), 0);
  if (!cipher.ok()) return std::optional<Key>();  // equal halves: no key of this slot
  VS_RETURN_IF_ERROR(cipher->decrypt(stripesData, 0));
  auto key = mergeKey(stripesData);
  std::fill(stripesData.begin(), stripesData.end(), 0);
  if (!key.ok()) return key.status();
  uint8_t digest[kDigestBytes];
  VS_RETURN_IF_ERROR(pbkdf2(*key, head.subspan(kOffMkDigestSalt, kSaltBytes),
                            load32(&head[kOffMkDigestIterations]), digest));
  if (!std::equal(digest, digest + kDigestBytes, &head[kOffMkDigest])) {
    std::fill(key->begin(), key->end(), 0);
    return std::optional<Key>();
  }
  return std::optional<Key>(*key);
}

}  // namespace

Result<uint64_t> luksPayloadOffset(std::span<const uint8_t> header) {
  const uint8_t magic[] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
  if (header.size() < kHeaderBytes ||
      !std::equal(std::begin(magic), std::end(magic), header.begin())) {
    return failed("no LUKS header where one should be");
  }
  if (header[kOffVersion] != 0 || header[kOffVersion + 1] != 1) {
    return failed("the LUKS header is not version 1");
  }
  uint64_t payload = uint64_t{load32(&header[kOffPayloadOffset])} * kSector;
  if (payload < kHeaderBytes || payload > kLuksMaxPayloadOffset) {
    return failed("the LUKS payload offset " + std::to_string(payload) + " is outside " +
                  std::to_string(kHeaderBytes) + ".." + std::to_string(kLuksMaxPayloadOffset));
  }
  return payload;
}

Result<OpenedLuks> openLuksVolume(std::span<const uint8_t> head, std::string_view passphrase) {
  VS_ASSIGN_OR_RETURN(uint64_t payload, luksPayloadOffset(head));
  if (head.size() < payload) return failed("the LUKS header area is cut short");
  std::string cipher(field(head, kOffCipherName, 32)), mode(field(head, kOffCipherMode, 32)),
      hash(field(head, kOffHashSpec, 32));
  if (cipher != "aes" || mode != "xts-plain64" || hash != "sha256" ||
      load32(&head[kOffKeyBytes]) != kXtsKeyBytes) {
    return failed("the LUKS volume uses " + cipher + "-" + mode + " with " + hash + " and a " +
                  std::to_string(load32(&head[kOffKeyBytes])) +
                  "-byte key; only aes-xts-plain64, sha256 and a 64-byte key are read here");
  }
  uint32_t digestIterations = load32(&head[kOffMkDigestIterations]);
  if (digestIterations == 0 || digestIterations > kMaxIterations) {
    return failed("the LUKS master key digest asks for " + std::to_string(digestIterations) +
                  " iterations");
  }
  for (size_t s = 0; s < kKeySlots; ++s) {
    const uint8_t* slot = &head[kOffKeySlots + s * kKeySlotSize];
    if (load32(slot) != kSlotEnabled) continue;
    VS_ASSIGN_OR_RETURN(auto key, trySlot(head.first(payload), slot, passphrase));
    if (key) return OpenedLuks{*key, payload};
  }
  return invalidArgument(
      "the key opens none of the image's LUKS key slots; it is not this "
      "image's key");
}

Status randomBytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return failed("the random number generator failed to give " + std::to_string(out.size()) +
                  " bytes");
  }
  return {};
}

Result<LuksVolume> makeLuksVolume(std::string_view passphrase, uint32_t iterations) {
  if (passphrase.empty()) return invalidArgument("a LUKS passphrase cannot be empty");
  if (iterations < kLuksMinIterations) {
    return invalidArgument("LUKS1 needs at least " + std::to_string(kLuksMinIterations) +
                           " PBKDF2 iterations, not " + std::to_string(iterations));
  }
  LuksVolume v;
  // OpenSSL's XTS refuses a key whose two halves are equal; draw again in that (2^-256) case.
  do {
    VS_RETURN_IF_ERROR(randomBytes(v.masterKey));
  } while (std::equal(v.masterKey.begin(), v.masterKey.begin() + kXtsKeyBytes / 2,
                      v.masterKey.begin() + kXtsKeyBytes / 2));
  uint8_t digestSalt[kSaltBytes], slotSalt[kSaltBytes], uuid[16];
  VS_RETURN_IF_ERROR(randomBytes(digestSalt));
  VS_RETURN_IF_ERROR(randomBytes(slotSalt));
  VS_RETURN_IF_ERROR(randomBytes(uuid));
  uuid[6] = static_cast<uint8_t>((uuid[6] & 0x0f) | 0x40);
  uuid[8] = static_cast<uint8_t>((uuid[8] & 0x3f) | 0x80);

  std::vector<uint8_t>& h = v.header;
  h.assign(kHeaderBytes, 0);
  const uint8_t magic[] = {'L', 'U', 'K', 'S', 0xba, 0xbe};
  std::copy(std::begin(magic), std::end(magic), h.begin());
  h[kOffVersion + 1] = 1;
  putString(&h[kOffCipherName], "aes");
  putString(&h[kOffCipherMode], "xts-plain64");
  putString(&h[kOffHashSpec], "sha256");
  store32(&h[kOffPayloadOffset], static_cast<uint32_t>(v.payloadOffset / kSector));
  store32(&h[kOffKeyBytes], kXtsKeyBytes);
  VS_RETURN_IF_ERROR(pbkdf2(v.masterKey, digestSalt, iterations,
                            std::span<uint8_t>(&h[kOffMkDigest], kDigestBytes)));
  std::copy(std::begin(digestSalt), std::end(digestSalt), &h[kOffMkDigestSalt]);
  store32(&h[kOffMkDigestIterations], iterations);
  putString(&h[kOffUuid], formatUuid(uuid));
  for (size_t s = 0; s < kKeySlots; ++s) {
    uint8_t* slot = &h[kOffKeySlots + s * kKeySlotSize];
    store32(slot, s == 0 ? kSlotEnabled : kSlotDisabled);
    store32(slot + 4, s == 0 ? iterations : 0);
    if (s == 0) std::copy(std::begin(slotSalt), std::end(slotSalt), slot + 8);
    store32(slot + 40, static_cast<uint32_t>((kHeaderBytes + s * kSlotBytes) / kSector));
    store32(slot + 44, kStripes);
  }

  std::array<uint8_t, kXtsKeyBytes> slotKey{};
  std::span<const uint8_t> pass(reinterpret_cast<const uint8_t*>(passphrase.data()),
                                passphrase.size());
  VS_RETURN_IF_ERROR(pbkdf2(pass, slotSalt, iterations, slotKey));
  VS_ASSIGN_OR_RETURN(v.material, splitKey(v.masterKey));
  VS_ASSIGN_OR_RETURN(XtsCipher slotCipher, XtsCipher::create(slotKey));
  std::fill(slotKey.begin(), slotKey.end(), 0);
  VS_RETURN_IF_ERROR(slotCipher.encrypt(v.material, 0));
  v.materialOffset = kHeaderBytes;
  return v;
}

}  // namespace virtscratch::image
