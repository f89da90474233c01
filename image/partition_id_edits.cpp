#include "image/partition_id_edits.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "base/little_endian.h"
#include "image/filesystem_uuid.h"

namespace virtscratch::image {
namespace {

using Edits = std::vector<ByteEdit>;
using MaybeEdits = std::optional<Edits>;

constexpr uint64_t kSector = 512;

using little_endian::load32;
using little_endian::load64;
using little_endian::store32;

uint32_t crc32Of(const uint8_t* data, size_t length) {
  return static_cast<uint32_t>(crc32(0L, data, static_cast<uInt>(length)));
}

// A random version 4 GUID as GPT stores it: the first three fields little-endian.
std::array<uint8_t, 16> randomGptGuid() {
  std::optional<std::array<uint8_t, 16>> b = parseUuidText(randomFilesystemUuid("gpt"));
  std::array<uint8_t, 16> g = b.value_or(std::array<uint8_t, 16>{});
  std::reverse(g.begin(), g.begin() + 4);
  std::reverse(g.begin() + 4, g.begin() + 6);
  std::reverse(g.begin() + 6, g.begin() + 8);
  return g;
}

// --- MBR: the 32-bit disk id at byte 440, never zero ("none").
Result<MaybeEdits> mbrEdits(const ByteReader& read) {
  uint8_t sector[kSector];
  VS_RETURN_IF_ERROR(read(0, sector));
  if (sector[510] != 0x55 || sector[511] != 0xAA) return MaybeEdits();
  std::optional<uint32_t> id = parseVfatVolumeId(randomFilesystemUuid("vfat"));
  uint8_t bytes[4];
  store32(bytes, id.value_or(1));
  return MaybeEdits(Edits{{440, std::vector<uint8_t>(bytes, bytes + 4)}});
}

// --- GPT (UEFI 2.x, 5.3): a header at LBA 1 and its backup at the disk's last LBA, each naming
// an array of partition entries.
constexpr size_t kHeaderCrc = 16, kMyLba = 24, kAlternateLba = 32, kDiskGuid = 56, kEntriesLba = 72,
                 kEntryCount = 80, kEntrySize = 84, kEntriesCrc = 88;
constexpr size_t kMinHeaderSize = 92;
constexpr uint64_t kMaxEntriesBytes = uint64_t{1} << 20;

struct GptCopy {
  std::vector<uint8_t> header;  // header-size bytes
  uint64_t headerLba = 0;
  std::vector<uint8_t> entries;
  uint64_t entriesLba = 0;
};

void setHeaderCrc(std::vector<uint8_t>& header) {
  store32(&header[kHeaderCrc], 0);
  store32(&header[kHeaderCrc], crc32Of(header.data(), header.size()));
}

// The header at `lba` and its entries, when the header says it is at `lba`, its CRC and its
// entries' CRC match, and it all lies on the disk; nullopt otherwise.
Result<std::optional<GptCopy>> readGpt(const ByteReader& read, uint64_t size, uint64_t lba) {
  std::optional<GptCopy> none;
  if ((lba + 1) * kSector > size) return none;
  uint8_t sector[kSector];
  VS_RETURN_IF_ERROR(read(lba * kSector, sector));
  uint32_t headerSize = load32(sector + 12);
  if (std::memcmp(sector, "EFI PART", 8) != 0 || headerSize < kMinHeaderSize ||
      headerSize > kSector || load64(sector + kMyLba) != lba) {
    return none;
  }
  GptCopy copy;
  copy.header.assign(sector, sector + headerSize);
  copy.headerLba = lba;
  uint32_t stored = load32(&copy.header[kHeaderCrc]);
  setHeaderCrc(copy.header);
  if (load32(&copy.header[kHeaderCrc]) != stored) return none;
  uint64_t count = load32(sector + kEntryCount), entrySize = load32(sector + kEntrySize);
  copy.entriesLba = load64(sector + kEntriesLba);
  if (entrySize < 128 || entrySize % 8 != 0 || count * entrySize > kMaxEntriesBytes ||
      copy.entriesLba > size / kSector || count * entrySize > size - copy.entriesLba * kSector) {
    return none;
  }
  copy.entries.resize(count * entrySize);
  VS_RETURN_IF_ERROR(read(copy.entriesLba * kSector, copy.entries));
  if (crc32Of(copy.entries.data(), copy.entries.size()) != load32(sector + kEntriesCrc))
    return none;
  return std::optional<GptCopy>(std::move(copy));
}

Result<MaybeEdits> gptEdits(const ByteReader& read, uint64_t size) {
  VS_ASSIGN_OR_RETURN(std::optional<GptCopy> primary, readGpt(read, size, 1));
  if (!primary) return MaybeEdits();
  VS_ASSIGN_OR_RETURN(std::optional<GptCopy> backup,
                      readGpt(read, size, load64(&primary->header[kAlternateLba])));
  if (!backup || load64(&backup->header[kAlternateLba]) != 1 ||
      backup->entries != primary->entries ||
      std::memcmp(&backup->header[kDiskGuid], &primary->header[kDiskGuid], 16) != 0) {
    return MaybeEdits();
  }

  // The same new identifiers in both copies: the entries (a partition in use has a type GUID)
  // and the disk GUID, then each header's CRCs.
  std::vector<uint8_t> entries = primary->entries;
  size_t entrySize = load32(&primary->header[kEntrySize]);
  static constexpr uint8_t kUnused[16] = {};
  for (size_t at = 0; at + entrySize <= entries.size(); at += entrySize) {
    if (std::memcmp(&entries[at], kUnused, 16) == 0) continue;
    std::array<uint8_t, 16> guid = randomGptGuid();
    std::copy(guid.begin(), guid.end(), entries.begin() + static_cast<ptrdiff_t>(at + 16));
  }
  uint32_t entriesCrc = crc32Of(entries.data(), entries.size());
  std::array<uint8_t, 16> disk = randomGptGuid();
  Edits edits;
  for (GptCopy* copy : {&*primary, &*backup}) {
    std::copy(disk.begin(), disk.end(), copy->header.begin() + kDiskGuid);
    store32(&copy->header[kEntriesCrc], entriesCrc);
    setHeaderCrc(copy->header);
    edits.push_back({copy->entriesLba * kSector, entries});
    edits.push_back({copy->headerLba * kSector, copy->header});
  }
  return MaybeEdits(std::move(edits));
}

}  // namespace

Result<std::optional<std::vector<ByteEdit>>> partitionIdEdits(const ByteReader& read, uint64_t size,
                                                              PartitionTable table) {
  if (size < 2 * kSector) return MaybeEdits();
  if (table == PartitionTable::kMbr) return mbrEdits(read);
  if (table == PartitionTable::kGpt) return gptEdits(read, size);
  return MaybeEdits();
}

}  // namespace virtscratch::image
