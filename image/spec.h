// What an image should be: the one description shared by the command line, the daemon and the
// libvirt metadata. Parsing a name that is not known yields kInvalidArgument naming it and the
// names that are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace virtscratch::image {

enum class ImageFormat { kRaw, kQcow2 };
enum class Filesystem { kNone, kExt2, kExt3, kExt4, kXfs, kBtrfs, kVfat, kSwap };
enum class PartitionTable { kNone, kMbr, kGpt };
// As qemu-img means them: off (sparse), metadata (qcow2 only: every cluster mapped, nothing
// written), falloc (space reserved with fallocate), full (zeros written).
enum class Preallocation { kOff, kMetadata, kFalloc, kFull };
// none, or LUKS (aes-xts-plain64) as QEMU opens it; the passphrase is not part of the spec.
enum class Encryption { kNone, kLuks };

struct ImageSpec {
  uint64_t size = 0;  // virtual size in bytes, guest-visible
  ImageFormat format = ImageFormat::kQcow2;
  Filesystem filesystem = Filesystem::kExt4;
  std::string label;  // empty: none
  std::string uuid;   // empty: random
  PartitionTable partition = PartitionTable::kNone;
  Preallocation preallocation = Preallocation::kOff;
  std::string contentDir;  // empty: an empty filesystem
  Encryption encryption = Encryption::kNone;
};

Result<ImageFormat> parseImageFormat(std::string_view name);
Result<Filesystem> parseFilesystem(std::string_view name);
Result<PartitionTable> parsePartitionTable(std::string_view name);
Result<Preallocation> parsePreallocation(std::string_view name);
Result<Encryption> parseEncryption(std::string_view name);

std::string_view toString(ImageFormat v);
std::string_view toString(Filesystem v);
std::string_view toString(PartitionTable v);
std::string_view toString(Preallocation v);
std::string_view toString(Encryption v);

// The largest disk an MBR partition table can describe (2^32 sectors of 512 bytes).
inline constexpr uint64_t kMbrMaxDiskSize = (uint64_t{1} << 32) * 512;

// Checks everything that can be checked without touching the disk, except the content
// directory: sizes against `maxSize` and the filesystem's minimum, label and UUID against the
// filesystem, preallocation against the format, the partition table against the size,
// encryption against the format and preallocation.
Status validateSpec(const ImageSpec& spec, uint64_t maxSize);

}  // namespace virtscratch::image
