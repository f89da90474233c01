// The qcow2 on-disk format (QEMU's docs/interop/qcow2.txt), shared by the writer and the reader:
// header field offsets, feature bits, table entry flags and big-endian field access. Every
// multi-byte field in a qcow2 file is big-endian.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/big_endian.h"

namespace virtscratch::image::qcow2 {

inline constexpr uint32_t kMagic = 0x514649fb;  // "QFI\xfb"

// Header fields: byte offsets. Version 2 ends at kHeaderV2Length; version 3 adds the feature
// words, refcount order and header length, and optionally the compression type.
inline constexpr size_t kOffMagic = 0;
inline constexpr size_t kOffVersion = 4;
inline constexpr size_t kOffBackingFileOffset = 8;
inline constexpr size_t kOffBackingFileSize = 16;
inline constexpr size_t kOffClusterBits = 20;
inline constexpr size_t kOffSize = 24;
inline constexpr size_t kOffCryptMethod = 32;
inline constexpr size_t kOffL1Size = 36;
inline constexpr size_t kOffL1TableOffset = 40;
inline constexpr size_t kOffRefcountTableOffset = 48;
inline constexpr size_t kOffRefcountTableClusters = 56;
inline constexpr size_t kOffNbSnapshots = 60;
inline constexpr size_t kOffSnapshotsOffset = 64;
inline constexpr size_t kOffIncompatibleFeatures = 72;
inline constexpr size_t kOffCompatibleFeatures = 80;
inline constexpr size_t kOffAutoclearFeatures = 88;
inline constexpr size_t kOffRefcountOrder = 96;
inline constexpr size_t kOffHeaderLength = 100;
inline constexpr size_t kOffCompressionType = 104;

inline constexpr size_t kHeaderV2Length = 72;
inline constexpr size_t kHeaderV3MinLength = 104;
inline constexpr size_t kHeaderV3Length = 112;  // with the compression type byte, padded

inline constexpr uint32_t kMinClusterBits = 9;
inline constexpr uint32_t kMaxClusterBits = 21;

// Header extensions: {type, length, data padded to 8 bytes}, ended by a kExtEnd entry.
inline constexpr uint32_t kExtEnd = 0;
inline constexpr uint32_t kExtBackingFormat = 0xe2792aca;
inline constexpr uint32_t kExtFeatureNameTable = 0x6803f857;
inline constexpr uint32_t kExtDataFile = 0x44415441;
inline constexpr uint32_t kExtCryptoHeader = 0x0537be77;  // {offset, length} of the LUKS header
inline constexpr uint32_t kCryptLuks = 2;                 // crypt_method: LUKS, IVs by host offset
inline constexpr size_t kFeatureNameEntrySize = 48;       // type, bit number, 46 bytes of name

inline constexpr uint64_t kIncompatDirty = 1u << 0;
inline constexpr uint64_t kIncompatCorrupt = 1u << 1;
inline constexpr uint64_t kIncompatDataFile = 1u << 2;
inline constexpr uint64_t kIncompatCompressionType = 1u << 3;
inline constexpr uint64_t kIncompatExtendedL2 = 1u << 4;
inline constexpr uint64_t kIncompatKnown = kIncompatDirty | kIncompatCorrupt | kIncompatDataFile |
                                           kIncompatCompressionType | kIncompatExtendedL2;
inline constexpr uint8_t kCompressionZlib = 0;

// L1 and L2 entries.
inline constexpr uint64_t kFlagCopied = uint64_t{1} << 63;      // refcount is exactly 1
inline constexpr uint64_t kFlagCompressed = uint64_t{1} << 62;  // L2: compressed descriptor
inline constexpr uint64_t kFlagZero = 1;                        // L2, v3: cluster reads as zeros
inline constexpr uint64_t kOffsetMask = 0x00fffffffffffe00;     // bits 9-55: host offset

// QEMU's limits, which bound what a header may make a reader allocate.
inline constexpr uint64_t kMaxBackingFileNameLength = 1023;
inline constexpr uint64_t kMaxL1Bytes = 32 * 1024 * 1024;

// qcow2's integers are big-endian.
using big_endian::load32;
using big_endian::load64;
using big_endian::store16;
using big_endian::store32;
using big_endian::store64;

}  // namespace virtscratch::image::qcow2
