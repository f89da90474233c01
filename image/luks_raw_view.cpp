#include "image/luks_raw_view.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/file_io.h"
#include "image/luks_header.h"

namespace virtscratch::image {
namespace {

constexpr uint64_t kSector = kLuksSectorSize;

class RawLuksView final : public DiskView {
 public:
  RawLuksView(UniqueFd fd, std::string path, uint64_t payload, uint64_t size,
              const std::array<uint8_t, kXtsKeyBytes>& key)
      : fd_(std::move(fd)), path_(std::move(path)), payload_(payload), size_(size), key_(key) {}
  ~RawLuksView() override { std::fill(key_.begin(), key_.end(), 0); }

  ImageFormat format() const override { return ImageFormat::kRaw; }
  uint64_t virtualSize() const override { return size_; }
  // The file holds ciphertext: no guest byte is stored as it is.
  Result<std::optional<uint64_t>> plainHostOffset(uint64_t, uint64_t) const override {
    return std::optional<uint64_t>();
  }
  uint64_t allocatedBytes() const override {
    auto bytes = virtscratch::allocatedBytes(fd_.get());
    return bytes.ok() ? *bytes : 0;
  }

  // The file's data extents past the payload offset, widened to whole sectors.
  Result<std::vector<Extent>> dataExtents(uint64_t from, uint64_t to) const override {
    to = std::min(to, size_);
    if (from >= to) return std::vector<Extent>();
    VS_ASSIGN_OR_RETURN(std::vector<Extent> file,
                        virtscratch::dataExtents(fd_.get(), payload_ + from, payload_ + to));
    std::vector<Extent> out;
    for (const Extent& e : file) {
      uint64_t start = std::max(from, (e.offset - payload_) / kSector * kSector);
      uint64_t end = std::min(to, (e.end() - payload_ + kSector - 1) / kSector * kSector);
      if (start < end) appendMerged(out, {start, end - start});
    }
    return out;
  }

  Status read(uint64_t offset, std::span<uint8_t> out) const override {
    if (offset > size_ || out.size() > size_ - offset) {
      return invalidArgument("read of " + std::to_string(out.size()) + " bytes at offset " +
                             std::to_string(offset) + " is past the end of '" + path_ + "' (" +
                             std::to_string(size_) + " bytes)");
    }
    std::fill(out.begin(), out.end(), 0);
    VS_ASSIGN_OR_RETURN(std::vector<Extent> data, dataExtents(offset, offset + out.size()));
    for (const Extent& e : data) {
      std::span<uint8_t> part = out.subspan(e.offset - offset, e.length);
      VS_RETURN_IF_ERROR(readDecrypted(fd_.get(), payload_ + e.offset, e.offset, part, key_)
                             .withContext("reading '" + path_ + "'"));
    }
    return {};
  }

 private:
  UniqueFd fd_;
  std::string path_;
  uint64_t payload_;
  uint64_t size_;
  std::array<uint8_t, kXtsKeyBytes> key_;
};

}  // namespace

Status readDecrypted(int fd, uint64_t fileOffset, uint64_t ivOffset, std::span<uint8_t> out,
                     std::span<const uint8_t> masterKey) {
  if (out.empty()) return {};
  const uint64_t lead = ivOffset % kSector;
  if (fileOffset % kSector != lead) {
    return failed("encrypted bytes at file offset " + std::to_string(fileOffset) +
                  " do not line up with their sectors");
  }
  const uint64_t length = (lead + out.size() + kSector - 1) / kSector * kSector;
  std::vector<uint8_t> sectors(length);
  VS_RETURN_IF_ERROR(readAll(fd, sectors.data(), sectors.size(), fileOffset - lead));
  VS_ASSIGN_OR_RETURN(XtsCipher cipher, XtsCipher::create(masterKey));
  VS_RETURN_IF_ERROR(cipher.decrypt(sectors, (ivOffset - lead) / kSector));
  std::memcpy(out.data(), sectors.data() + lead, out.size());
  return {};
}

Result<std::unique_ptr<DiskView>> openRawLuksView(UniqueFd fd, const std::string& path,
                                                  std::string_view passphrase) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat " + path, errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("'" + path + "' is not a regular file; give an image file");
  }
  auto fileSize = static_cast<uint64_t>(st.st_size);
  std::vector<uint8_t> head(std::min<uint64_t>(fileSize, 4096));
  VS_RETURN_IF_ERROR(readAll(fd.get(), head.data(), head.size(), 0)
                         .withContext("reading the LUKS header of '" + path + "'"));
  auto payload = luksPayloadOffset(head);
  if (!payload.ok()) return payload.status().withContext("raw LUKS image '" + path + "'");
  if (*payload > fileSize) {
    return failed("raw LUKS image '" + path + "' is shorter than its header area (" +
                  std::to_string(*payload) + " bytes); it may be truncated");
  }
  head.resize(*payload);
  VS_RETURN_IF_ERROR(readAll(fd.get(), head.data(), head.size(), 0)
                         .withContext("reading the LUKS header of '" + path + "'"));
  auto opened = openLuksVolume(head, passphrase);
  if (!opened.ok()) return opened.status().withContext("raw LUKS image '" + path + "'");
  auto view = std::make_unique<RawLuksView>(std::move(fd), path, *payload, fileSize - *payload,
                                            opened->masterKey);
  std::fill(opened->masterKey.begin(), opened->masterKey.end(), 0);
  return std::unique_ptr<DiskView>(std::move(view));
}

}  // namespace virtscratch::image
