#include "image/qcow2_header.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "base/file_io.h"
#include "image/qcow2_format.h"

namespace virtscratch::image::qcow2 {
namespace {

std::string hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

class HeaderParser {
 public:
  HeaderParser(const std::string& path, uint64_t fileSize) : path_(path), fileSize_(fileSize) {}

  Status corrupt(const std::string& what) const {
    return failed("qcow2 image '" + path_ + "' is corrupt: " + what);
  }
  Status unsupported(const std::string& what) const {
    return invalidArgument("qcow2 image '" + path_ + "' " + what);
  }

  Status parseFixed(const std::vector<uint8_t>& b, Header& h) {
    if (load32(&b[kOffMagic]) != kMagic) {
      return failed("'" + path_ + "' is not a qcow2 image: magic " + hex(load32(&b[kOffMagic])));
    }
    h.version = load32(&b[kOffVersion]);
    if (h.version != 2 && h.version != 3) {
      return unsupported("has version " + std::to_string(h.version) +
                         "; only versions 2 and 3 are supported");
    }
    size_t minimum = h.version == 2 ? kHeaderV2Length : kHeaderV3MinLength;
    if (fileSize_ < minimum) {
      return corrupt("the file has " + std::to_string(fileSize_) +
                     " bytes, too few for a version " + std::to_string(h.version) + " header (" +
                     std::to_string(minimum) + "); it may be truncated");
    }
    h.clusterBits = load32(&b[kOffClusterBits]);
    if (h.clusterBits < kMinClusterBits || h.clusterBits > kMaxClusterBits) {
      return corrupt("cluster_bits " + std::to_string(h.clusterBits) + " is outside " +
                     std::to_string(kMinClusterBits) + ".." + std::to_string(kMaxClusterBits));
    }
    h.clusterSize = uint64_t{1} << h.clusterBits;
    if (uint32_t crypt = load32(&b[kOffCryptMethod]); crypt == kCryptLuks) {
      h.luks = true;
    } else if (crypt != 0) {
      return unsupported("is encrypted (crypt_method " + std::to_string(crypt) +
                         ", QEMU's old AES), which is not supported; decrypt it with qemu-img "
                         "convert first");
    }
    headerLength_ = kHeaderV2Length;
    if (h.version == 3) {
      VS_RETURN_IF_ERROR(parseV3(b, h));
    }
    return parseTables(b, h);
  }

  Status parseV3(const std::vector<uint8_t>& b, Header& h) {
    headerLength_ = load32(&b[kOffHeaderLength]);
    if (headerLength_ < kHeaderV3MinLength || headerLength_ > h.clusterSize ||
        headerLength_ > fileSize_) {
      return corrupt("header_length " + std::to_string(headerLength_) + " is outside " +
                     std::to_string(kHeaderV3MinLength) + ".." +
                     std::to_string(std::min(h.clusterSize, fileSize_)));
    }
    h.incompatibleFeatures = load64(&b[kOffIncompatibleFeatures]);
    uint64_t unknown = h.incompatibleFeatures & ~kIncompatKnown;
    if (unknown != 0) {
      return unsupported("uses unknown incompatible features " + hex(unknown) +
                         "; it was written by a newer QEMU");
    }
    if ((h.incompatibleFeatures & kIncompatDataFile) != 0) {
      return unsupported("keeps its data in an external data file, which is not supported");
    }
    if ((h.incompatibleFeatures & kIncompatExtendedL2) != 0) {
      return unsupported(
          "uses extended L2 entries (subclusters), which are not supported; "
          "convert it with qemu-img convert -O qcow2");
    }
    uint8_t compression = headerLength_ > kOffCompressionType ? b[kOffCompressionType] : 0;
    if (compression != kCompressionZlib) {
      return unsupported("uses compression type " + std::to_string(compression) +
                         " (zstd); only zlib is supported");
    }
    uint32_t refcountOrder = load32(&b[kOffRefcountOrder]);
    if (refcountOrder > 6) {
      return corrupt("refcount_order " + std::to_string(refcountOrder) + " is above 6");
    }
    return {};
  }

  Status parseTables(const std::vector<uint8_t>& b, Header& h) const {
    h.size = load64(&b[kOffSize]);
    h.snapshots = load32(&b[kOffNbSnapshots]);
    uint64_t l1Size = load32(&b[kOffL1Size]);
    h.l1Offset = load64(&b[kOffL1TableOffset]);
    uint64_t l2Entries = h.clusterSize / 8;
    uint64_t clusters = h.size / h.clusterSize + (h.size % h.clusterSize != 0 ? 1 : 0);
    h.l1Entries = clusters / l2Entries + (clusters % l2Entries != 0 ? 1 : 0);
    if (l1Size > kMaxL1Bytes / 8) {
      return corrupt("l1_size " + std::to_string(l1Size) + " is above QEMU's limit of " +
                     std::to_string(kMaxL1Bytes / 8) + " entries");
    }
    if (l1Size < h.l1Entries) {
      return corrupt("l1_size " + std::to_string(l1Size) + " is too small for the virtual size " +
                     std::to_string(h.size) + " (needs " + std::to_string(h.l1Entries) + ")");
    }
    if (h.l1Entries > 0) {
      if (h.l1Offset % h.clusterSize != 0) {
        return corrupt("l1_table_offset " + std::to_string(h.l1Offset) +
                       " is not a multiple of the cluster size " + std::to_string(h.clusterSize));
      }
      if (h.l1Offset > fileSize_ || h.l1Entries * 8 > fileSize_ - h.l1Offset) {
        return corrupt("the L1 table (l1_table_offset " + std::to_string(h.l1Offset) + ", " +
                       std::to_string(h.l1Entries) + " entries) lies past the end of the file (" +
                       std::to_string(fileSize_) + " bytes); it may be truncated");
      }
    }
    uint64_t refcountOffset = load64(&b[kOffRefcountTableOffset]);
    if (refcountOffset % h.clusterSize != 0 || refcountOffset >= fileSize_) {
      return corrupt("refcount_table_offset " + std::to_string(refcountOffset) +
                     " is not a cluster inside the file (" + std::to_string(fileSize_) +
                     " bytes); it may be truncated");
    }
    return {};
  }

  // The extensions and the backing file name live in the first cluster.
  Status parseTail(const std::vector<uint8_t>& c, Header& h) const {
    uint64_t backingOffset = load64(&c[kOffBackingFileOffset]);
    uint64_t backingSize = load32(&c[kOffBackingFileSize]);
    uint64_t end = c.size();
    if (backingOffset != 0) {
      if (backingSize > kMaxBackingFileNameLength) {
        return corrupt("backing_file_size " + std::to_string(backingSize) + " is above " +
                       std::to_string(kMaxBackingFileNameLength));
      }
      if (backingOffset < headerLength_ || backingOffset > c.size() ||
          backingSize > c.size() - backingOffset) {
        return corrupt("backing file name (backing_file_offset " + std::to_string(backingOffset) +
                       ", " + std::to_string(backingSize) +
                       " bytes) is not inside the header cluster");
      }
      h.backingFile.assign(c.begin() + static_cast<ptrdiff_t>(backingOffset),
                           c.begin() + static_cast<ptrdiff_t>(backingOffset + backingSize));
      if (h.backingFile.find('\0') != std::string::npos) {
        return corrupt("the backing file name contains a NUL byte");
      }
      end = backingOffset;
    }
    for (uint64_t at = headerLength_; at + 8 <= end;) {
      uint32_t type = load32(&c[at]);
      uint64_t length = load32(&c[at + 4]);
      if (type == kExtEnd) break;
      if (length > end - at - 8) {
        return corrupt("header extension " + hex(type) + " at offset " + std::to_string(at) +
                       " has length " + std::to_string(length) + ", past the header's end");
      }
      if (type == kExtBackingFormat) {
        h.backingFormat.assign(c.begin() + static_cast<ptrdiff_t>(at + 8),
                               c.begin() + static_cast<ptrdiff_t>(at + 8 + length));
      }
      if (type == kExtCryptoHeader && h.luks) {
        if (length < 16) return corrupt("the crypto header extension is too short");
        h.cryptoOffset = load64(&c[at + 8]);
        h.cryptoLength = load64(&c[at + 16]);
      }
      at += 8 + (length + 7) / 8 * 8;
    }
    return {};
  }

 private:
  const std::string& path_;
  uint64_t fileSize_;
  uint64_t headerLength_ = kHeaderV2Length;
};

}  // namespace

Result<Header> readHeader(int fd, uint64_t fileSize, const std::string& path) {
  HeaderParser parser(path, fileSize);
  if (fileSize < kHeaderV2Length) {
    return parser.corrupt("the file has " + std::to_string(fileSize) +
                          " bytes, too few for a qcow2 header (" + std::to_string(kHeaderV2Length) +
                          "); it may be truncated");
  }
  std::vector<uint8_t> fixed(kHeaderV3Length, 0);
  VS_RETURN_IF_ERROR(readAll(fd, fixed.data(), std::min<uint64_t>(fixed.size(), fileSize), 0)
                         .withContext("reading the header of '" + path + "'"));
  Header h;
  VS_RETURN_IF_ERROR(parser.parseFixed(fixed, h));
  std::vector<uint8_t> cluster(std::min(h.clusterSize, fileSize));
  VS_RETURN_IF_ERROR(readAll(fd, cluster.data(), cluster.size(), 0)
                         .withContext("reading the header of '" + path + "'"));
  VS_RETURN_IF_ERROR(parser.parseTail(cluster, h));
  if (h.luks && (h.cryptoLength == 0 || h.cryptoOffset % h.clusterSize != 0 ||
                 h.cryptoOffset > fileSize || h.cryptoLength > fileSize - h.cryptoOffset)) {
    return parser.corrupt(
        "it declares LUKS encryption (crypt_method 2), but its LUKS header (offset " +
        std::to_string(h.cryptoOffset) + ", " + std::to_string(h.cryptoLength) +
        " bytes) is not inside the file");
  }
  return h;
}

}  // namespace virtscratch::image::qcow2
