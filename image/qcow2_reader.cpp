#include "image/qcow2_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include "image/host_extent_cursor.h"
#include "image/luks_header.h"
#include "image/luks_raw_view.h"
#include "image/qcow2_format.h"
#include "image/qcow2_header.h"

namespace virtscratch::image {
namespace {

using qcow2::Header;

// Guest clusters, as the L2 entries map them.
enum class Kind { kUnallocated, kZero, kData, kCompressed };
struct Mapping {
  Kind kind = Kind::kUnallocated;
  uint64_t host = 0;
  uint64_t compressedSize = 0;
};

class Qcow2DiskView final : public DiskView {
 public:
  Qcow2DiskView(UniqueFd fd, std::string path, uint64_t fileSize, Header header,
                std::vector<uint64_t> l1, std::unique_ptr<DiskView> backing,
                std::optional<std::array<uint8_t, kXtsKeyBytes>> key)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        fileSize_(fileSize),
        h_(std::move(header)),
        l1_(std::move(l1)),
        backing_(std::move(backing)),
        l2Bits_(h_.clusterBits - 3),
        key_(key) {}
  ~Qcow2DiskView() override {
    if (key_) std::fill(key_->begin(), key_->end(), 0);
  }

  ImageFormat format() const override { return ImageFormat::kQcow2; }
  uint64_t virtualSize() const override { return h_.size; }
  std::string backingFile() const override { return h_.backingFile; }
  uint64_t allocatedBytes() const override {
    auto bytes = virtscratch::allocatedBytes(fd_.get());
    return bytes.ok() ? *bytes : 0;
  }
  Result<std::vector<Extent>> dataExtents(uint64_t from, uint64_t to) const override;
  Status read(uint64_t offset, std::span<uint8_t> out) const override;
  Result<std::optional<uint64_t>> plainHostOffset(uint64_t offset, uint64_t length) const override;

 private:
  Status corrupt(const std::string& what) const {
    return failed("qcow2 image '" + path_ + "' is corrupt: " + what);
  }
  uint64_t l2Entries() const { return uint64_t{1} << l2Bits_; }
  // The L2 entries for `count` guest clusters from `cluster` on, all in one L2 table.
  Status loadEntries(uint64_t cluster, uint64_t count, std::vector<uint64_t>& entries) const;
  Result<Mapping> classify(uint64_t entry, uint64_t cluster) const;
  // Host bytes; those past the end of the file read as zeros, as QEMU reads them.
  Status readHost(uint64_t host, std::span<uint8_t> out) const;
  Status readUnallocated(uint64_t guest, std::span<uint8_t> out) const;
  Status readCompressed(const Mapping& m, uint64_t cluster, std::vector<uint8_t>& out) const;

  UniqueFd fd_;
  std::string path_;
  uint64_t fileSize_;
  Header h_;
  std::vector<uint64_t> l1_;  // the entries covering the virtual size, host-endian
  std::unique_ptr<DiskView> backing_;
  uint32_t l2Bits_;
  // The master key of an encrypted image: data clusters are decrypted, each sector's IV its host
  // offset over 512.
  std::optional<std::array<uint8_t, kXtsKeyBytes>> key_;
};

Status Qcow2DiskView::loadEntries(uint64_t cluster, uint64_t count,
                                  std::vector<uint64_t>& entries) const {
  entries.assign(count, 0);
  uint64_t l1Index = cluster >> l2Bits_;
  uint64_t l2Offset = l1_[l1Index] & qcow2::kOffsetMask;
  if (l2Offset == 0) return {};
  if (l2Offset % h_.clusterSize != 0 || l2Offset >= fileSize_) {
    return corrupt("L1 entry " + std::to_string(l1Index) + " points to L2 table offset " +
                   std::to_string(l2Offset) + ", which is not a cluster inside the file (" +
                   std::to_string(fileSize_) + " bytes)");
  }
  std::vector<uint8_t> raw(count * 8);
  VS_RETURN_IF_ERROR(readHost(l2Offset + (cluster & (l2Entries() - 1)) * 8, raw));
  for (uint64_t i = 0; i < count; ++i) entries[i] = qcow2::load64(&raw[i * 8]);
  return {};
}

Result<Mapping> Qcow2DiskView::classify(uint64_t entry, uint64_t cluster) const {
  Mapping m;
  auto where = [&] {
    return "the L2 entry of guest offset " + std::to_string(cluster << h_.clusterBits);
  };
  if ((entry & qcow2::kFlagCompressed) != 0) {
    if (h_.luks)
      return corrupt(where() + " is compressed, which QEMU never does to encrypted data");
    uint32_t sizeBits = h_.clusterBits - 8;
    uint32_t offsetBits = 62 - sizeBits;
    m.kind = Kind::kCompressed;
    m.host = entry & ((uint64_t{1} << offsetBits) - 1);
    uint64_t sectors = ((entry >> offsetBits) & ((uint64_t{1} << sizeBits) - 1)) + 1;
    m.compressedSize = sectors * 512 - (m.host & 511);
    if (m.host >= fileSize_) {
      return corrupt(where() + " points to compressed data at " + std::to_string(m.host) +
                     ", past the end of the file (" + std::to_string(fileSize_) + " bytes)");
    }
    return m;
  }
  if ((entry & qcow2::kFlagZero) != 0) {
    if (h_.version < 3) return corrupt(where() + " has the zero flag in a version 2 image");
    m.kind = Kind::kZero;
    return m;
  }
  m.host = entry & qcow2::kOffsetMask;
  if (m.host == 0) return m;
  if (m.host % h_.clusterSize != 0 || m.host >= fileSize_) {
    return corrupt(where() + " points to host offset " + std::to_string(m.host) +
                   ", which is not a cluster inside the file (" + std::to_string(fileSize_) +
                   " bytes)");
  }
  m.kind = Kind::kData;
  return m;
}

Status Qcow2DiskView::readHost(uint64_t host, std::span<uint8_t> out) const {
  uint64_t inFile = host >= fileSize_ ? 0 : std::min<uint64_t>(out.size(), fileSize_ - host);
  std::fill(out.begin() + static_cast<ptrdiff_t>(inFile), out.end(), 0);
  if (inFile == 0) return {};
  return readAll(fd_.get(), out.data(), inFile, host).withContext("reading '" + path_ + "'");
}

Status Qcow2DiskView::readUnallocated(uint64_t guest, std::span<uint8_t> out) const {
  uint64_t fromBacking = 0;
  if (backing_ && guest < backing_->virtualSize()) {
    fromBacking = std::min<uint64_t>(out.size(), backing_->virtualSize() - guest);
    VS_RETURN_IF_ERROR(backing_->read(guest, out.first(fromBacking)));
  }
  std::fill(out.begin() + static_cast<ptrdiff_t>(fromBacking), out.end(), 0);
  return {};
}

Status Qcow2DiskView::readCompressed(const Mapping& m, uint64_t cluster,
                                     std::vector<uint8_t>& out) const {
  // The descriptor's sector count may reach past the end of the file for the last cluster.
  std::vector<uint8_t> in(std::min(m.compressedSize, fileSize_ - m.host));
  VS_RETURN_IF_ERROR(readHost(m.host, in));
  out.resize(h_.clusterSize);
  z_stream stream{};
  if (inflateInit2(&stream, -12) != Z_OK) return failed("zlib inflateInit2 failed");
  auto end = [](z_stream* s) { inflateEnd(s); };
  std::unique_ptr<z_stream, decltype(end)> guard(&stream, end);
  stream.next_in = in.data();
  stream.avail_in = static_cast<uInt>(in.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  int ret = inflate(&stream, Z_FINISH);
  if ((ret != Z_STREAM_END && ret != Z_BUF_ERROR) || stream.avail_out != 0) {
    return corrupt("the compressed cluster at host offset " + std::to_string(m.host) +
                   " (guest offset " + std::to_string(cluster << h_.clusterBits) +
                   ") does not decompress to a full cluster");
  }
  return {};
}

Result<std::optional<uint64_t>> Qcow2DiskView::plainHostOffset(uint64_t offset,
                                                               uint64_t length) const {
  std::optional<uint64_t> none;
  // A file with internal snapshots, or marked dirty or corrupt by QEMU, holds more than this disk
  // or may not say truly what it holds.
  if (key_ || h_.snapshots != 0 ||
      (h_.incompatibleFeatures & (qcow2::kIncompatDirty | qcow2::kIncompatCorrupt)) != 0) {
    return none;
  }
  if (length == 0 || offset > h_.size || length > h_.size - offset) return none;
  uint64_t cluster = offset >> h_.clusterBits;
  if (((offset + length - 1) >> h_.clusterBits) != cluster) return none;
  std::vector<uint64_t> entries;
  VS_RETURN_IF_ERROR(loadEntries(cluster, 1, entries));
  if ((entries[0] & qcow2::kFlagCopied) == 0) return none;
  VS_ASSIGN_OR_RETURN(Mapping m, classify(entries[0], cluster));
  if (m.kind != Kind::kData) return none;
  uint64_t within = offset & (h_.clusterSize - 1);
  if (m.host + within + length > fileSize_) return none;
  return std::optional<uint64_t>(m.host + within);
}

Status Qcow2DiskView::read(uint64_t offset, std::span<uint8_t> out) const {
  if (offset > h_.size || out.size() > h_.size - offset) {
    return invalidArgument("read of " + std::to_string(out.size()) + " bytes at offset " +
                           std::to_string(offset) + " is past the end of '" + path_ + "' (" +
                           std::to_string(h_.size) + " bytes)");
  }
  const uint64_t end = offset + out.size();
  std::vector<uint64_t> entries;
  std::vector<uint8_t> cluster;
  // Consecutive clusters of one kind (and, for data, contiguous on the host) are read at once.
  Kind pendingKind = Kind::kZero;
  uint64_t pendingHost = 0;
  size_t pendingAt = 0;
  size_t pendingLength = 0;
  auto flush = [&]() -> Status {
    std::span<uint8_t> part = out.subspan(pendingAt, pendingLength);
    Status status;
    if (pendingKind == Kind::kData) {
      status = key_ ? readDecrypted(fd_.get(), pendingHost, pendingHost, part, *key_)
                          .withContext("reading '" + path_ + "'")
                    : readHost(pendingHost, part);
    }
    if (pendingKind == Kind::kUnallocated) status = readUnallocated(offset + pendingAt, part);
    if (pendingKind == Kind::kZero) std::fill(part.begin(), part.end(), 0);
    pendingAt += pendingLength;
    pendingLength = 0;
    return status;
  };
  for (uint64_t pos = offset; pos < end;) {
    uint64_t first = pos >> h_.clusterBits;
    uint64_t count = std::min(((end - 1) >> h_.clusterBits) - first + 1,
                              l2Entries() - (first & (l2Entries() - 1)));
    VS_RETURN_IF_ERROR(loadEntries(first, count, entries));
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t c = first + i;
      uint64_t within = pos - (c << h_.clusterBits);
      size_t length = static_cast<size_t>(std::min(h_.clusterSize - within, end - pos));
      VS_ASSIGN_OR_RETURN(Mapping m, classify(entries[i], c));
      uint64_t host = m.host + within;
      bool joins =
          m.kind == pendingKind && (m.kind != Kind::kData || host == pendingHost + pendingLength);
      if (!joins || m.kind == Kind::kCompressed) {
        VS_RETURN_IF_ERROR(flush());
        pendingKind = m.kind;
        pendingHost = host;
      }
      if (m.kind == Kind::kCompressed) {
        VS_RETURN_IF_ERROR(readCompressed(m, c, cluster));
        std::memcpy(out.data() + pendingAt, cluster.data() + within, length);
        pendingAt += length;
      } else {
        pendingLength += length;
      }
      pos += length;
    }
  }
  return flush();
}

// The data of a data cluster: from its first to its last host data byte, one extent at most, as
// QEMU maps preallocated clusters; nullopt when the cluster is a hole in the file.
struct DataCluster {
  uint64_t guest, host, length;
};
Result<std::optional<Extent>> dataOf(const DataCluster& c, HostExtentCursor& hostData) {
  VS_ASSIGN_OR_RETURN(std::optional<Extent> first, hostData.after(c.host));
  const uint64_t end = c.host + c.length;
  if (!first || first->offset >= end) return std::optional<Extent>();
  Extent last = *first;
  while (last.end() < end) {
    VS_ASSIGN_OR_RETURN(std::optional<Extent> next, hostData.after(last.end()));
    if (!next || next->offset >= end) break;
    last = *next;
  }
  uint64_t from = std::max(first->offset, c.host), to = std::min(last.end(), end);
  return std::optional<Extent>(Extent{c.guest + (from - c.host), to - from});
}

Result<std::vector<Extent>> Qcow2DiskView::dataExtents(uint64_t from, uint64_t to) const {
  to = std::min(to, h_.size);
  if (from >= to) return std::vector<Extent>();
  std::vector<Extent> backing;
  if (backing_ && from < backing_->virtualSize()) {
    VS_ASSIGN_OR_RETURN(backing,
                        backing_->dataExtents(from, std::min(to, backing_->virtualSize())));
  }
  std::vector<Extent> out;
  size_t b = 0;
  auto addUnallocated = [&](uint64_t guest, uint64_t length) {
    while (b < backing.size() && backing[b].end() <= guest) ++b;
    for (size_t j = b; j < backing.size() && backing[j].offset < guest + length; ++j) {
      uint64_t start = std::max(backing[j].offset, guest);
      appendMerged(out, {start, std::min(backing[j].end(), guest + length) - start});
    }
  };
  // Allocated clusters that are holes in the image file (preallocation=metadata) read as zeros;
  // their host data is looked up in host order once the window's clusters are known.
  std::vector<DataCluster> data;
  const uint64_t firstCluster = from >> h_.clusterBits;
  const uint64_t endCluster = ((to - 1) >> h_.clusterBits) + 1;
  std::vector<uint64_t> entries;
  for (uint64_t first = firstCluster; first < endCluster;) {
    uint64_t count = std::min(l2Entries() - (first & (l2Entries() - 1)), endCluster - first);
    if ((l1_[first >> l2Bits_] & qcow2::kOffsetMask) == 0) {
      // No L2 table: the whole range is unallocated, in one step whatever the cluster size.
      uint64_t start = std::max(first << h_.clusterBits, from);
      addUnallocated(start, std::min((first + count) << h_.clusterBits, to) - start);
      first += count;
      continue;
    }
    VS_RETURN_IF_ERROR(loadEntries(first, count, entries));
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t start = std::max((first + i) << h_.clusterBits, from);
      uint64_t length = std::min(((first + i + 1) << h_.clusterBits), to) - start;
      VS_ASSIGN_OR_RETURN(Mapping m, classify(entries[i], first + i));
      if (m.kind == Kind::kUnallocated) addUnallocated(start, length);
      if (m.kind == Kind::kCompressed) appendMerged(out, {start, length});
      if (m.kind == Kind::kData) {
        data.push_back({start, m.host + (start - ((first + i) << h_.clusterBits)), length});
      }
    }
    first += count;
  }
  std::sort(data.begin(), data.end(),
            [](const DataCluster& x, const DataCluster& y) { return x.host < y.host; });
  HostExtentCursor hostData(fd_.get(), fileSize_);
  for (const DataCluster& c : data) {
    VS_ASSIGN_OR_RETURN(std::optional<Extent> e, dataOf(c, hostData));
    if (e) out.push_back(*e);
  }
  std::sort(out.begin(), out.end(),
            [](const Extent& x, const Extent& y) { return x.offset < y.offset; });
  std::vector<Extent> merged;
  merged.reserve(out.size());
  for (const Extent& e : out) appendMerged(merged, e);
  return merged;
}

// The images being opened on this thread, outermost first: opening a backing file comes back
// here, so this sees the whole chain and can stop loops and chains that are too deep.
constexpr size_t kMaxBackingDepth = 16;
thread_local std::vector<std::pair<dev_t, ino_t>> tOpening;

class OpeningGuard {
 public:
  explicit OpeningGuard(std::pair<dev_t, ino_t> id) { tOpening.push_back(id); }
  ~OpeningGuard() { tOpening.pop_back(); }
  OpeningGuard(const OpeningGuard&) = delete;
  OpeningGuard& operator=(const OpeningGuard&) = delete;
};

// QEMU refuses L1 entries with reserved bits set and never points two L1 entries at one L2
// table, nor an L1 entry at the L1 table itself. Refusing the same bounds the work and the
// extents a hostile file can cause to its own size.
Status checkL1Table(const std::vector<uint64_t>& l1, const Header& h, const std::string& path) {
  constexpr uint64_t kReserved = ~(qcow2::kOffsetMask | qcow2::kFlagCopied);
  uint64_t l1End = h.l1Offset + l1.size() * 8;
  std::vector<uint64_t> tables;
  for (size_t i = 0; i < l1.size(); ++i) {
    uint64_t offset = l1[i] & qcow2::kOffsetMask;
    auto corruptEntry = [&](const char* why) {
      return failed("qcow2 image '" + path + "' is corrupt: L1 entry " + std::to_string(i) + " (" +
                    std::to_string(l1[i]) + ") " + why);
    };
    if ((l1[i] & kReserved) != 0) return corruptEntry("has reserved bits set");
    if (offset != 0 && offset < l1End && offset + h.clusterSize > h.l1Offset) {
      return corruptEntry("points to an L2 table inside the L1 table");
    }
    if (offset != 0) tables.push_back(offset);
  }
  std::sort(tables.begin(), tables.end());
  auto shared = std::adjacent_find(tables.begin(), tables.end());
  if (shared == tables.end()) return {};
  return failed("qcow2 image '" + path +
                "' is corrupt: several L1 entries point to the L2 table at " +
                std::to_string(*shared));
}

}  // namespace

Result<bool> isQcow2(int fd) {
  uint8_t magic[4];
  ssize_t n;
  do {
    n = pread(fd, magic, sizeof magic, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errnoStatus("reading the image header", errno);
  return n == sizeof magic && qcow2::load32(magic) == qcow2::kMagic;
}

namespace {

// The master key of the encrypted image `h` describes, opened with `passphrase`.
Result<std::array<uint8_t, kXtsKeyBytes>> openCrypto(int fd, const Header& h,
                                                     const std::string& path,
                                                     std::string_view passphrase) {
  if (passphrase.empty()) {
    return invalidArgument("qcow2 image '" + path +
                           "' is encrypted (LUKS) and opens only with its key; give its key file "
                           "with --key-file");
  }
  if (h.cryptoLength > kLuksMaxPayloadOffset) {
    return failed("qcow2 image '" + path + "' has a LUKS header of " +
                  std::to_string(h.cryptoLength) + " bytes, more than " +
                  std::to_string(kLuksMaxPayloadOffset));
  }
  std::vector<uint8_t> head(h.cryptoLength);
  VS_RETURN_IF_ERROR(readAll(fd, head.data(), head.size(), h.cryptoOffset)
                         .withContext("reading the LUKS header of '" + path + "'"));
  auto opened = openLuksVolume(head, passphrase);
  if (!opened.ok()) return opened.status().withContext("qcow2 image '" + path + "'");
  return opened->masterKey;
}

}  // namespace

Result<std::unique_ptr<DiskView>> openQcow2(UniqueFd fd, const std::string& path,
                                            const BackingOpener& opener,
                                            std::string_view passphrase) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + path + "'", errno);
  std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
  if (std::find(tOpening.begin(), tOpening.end(), id) != tOpening.end()) {
    return failed("qcow2 image '" + path + "' is in its own backing chain; the chain loops");
  }
  if (tOpening.size() > kMaxBackingDepth) {
    return failed("qcow2 image '" + path + "' is more than " + std::to_string(kMaxBackingDepth) +
                  " backing files deep; the chain is too long");
  }
  OpeningGuard guard(id);
  off_t size = lseek(fd.get(), 0, SEEK_END);
  if (size < 0) return errnoStatus("finding the size of '" + path + "'", errno);
  auto fileSize = static_cast<uint64_t>(size);
  VS_ASSIGN_OR_RETURN(Header h, qcow2::readHeader(fd.get(), fileSize, path));
  std::optional<std::array<uint8_t, kXtsKeyBytes>> key;
  if (h.luks) {
    VS_ASSIGN_OR_RETURN(key, openCrypto(fd.get(), h, path, passphrase));
  }
  // Bounded by the header checks: inside the file and at most 32 MiB.
  std::vector<uint8_t> raw(h.l1Entries * 8);
  VS_RETURN_IF_ERROR(readAll(fd.get(), raw.data(), raw.size(), h.l1Offset)
                         .withContext("reading the L1 table of '" + path + "'"));
  std::vector<uint64_t> l1(h.l1Entries);
  for (size_t i = 0; i < l1.size(); ++i) l1[i] = qcow2::load64(&raw[i * 8]);
  VS_RETURN_IF_ERROR(checkL1Table(l1, h, path));
  std::unique_ptr<DiskView> backing;
  if (!h.backingFile.empty()) {
    BackingRef ref{path, h.backingFile, h.backingFormat};
    if (!opener) {
      return invalidArgument("qcow2 image '" + path + "' names backing file '" + h.backingFile +
                             "'; backing files are not followed here");
    }
    auto opened = opener(ref);
    if (!opened.ok()) {
      return opened.status().withContext("opening backing file '" + h.backingFile + "' of '" +
                                         path + "'");
    }
    backing = std::move(*opened);
  }
  return std::unique_ptr<DiskView>(std::make_unique<Qcow2DiskView>(
      std::move(fd), path, fileSize, std::move(h), std::move(l1), std::move(backing), key));
}

}  // namespace virtscratch::image
