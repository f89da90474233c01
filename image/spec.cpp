#include "image/spec.h"

#include <array>
#include <utility>

#include "image/filesystem.h"
#include "image/size.h"

namespace virtscratch::image {
namespace {

template <typename E, size_t N>
Result<E> parseName(std::string_view what, std::string_view name,
                    const std::array<std::pair<std::string_view, E>, N>& names) {
  std::string known;
  for (const auto& [n, v] : names) {
    if (n == name) return v;
    if (!known.empty()) known += ", ";
    known += n;
  }
  return invalidArgument("unknown " + std::string(what) + " '" + std::string(name) +
                         "' (choose one of: " + known + ")");
}

template <typename E, size_t N>
std::string_view nameOf(E v, const std::array<std::pair<std::string_view, E>, N>& names) {
  for (const auto& [n, value] : names) {
    if (value == v) return n;
  }
  return "?";
}

constexpr std::array<std::pair<std::string_view, ImageFormat>, 2> kFormats{{
    {"raw", ImageFormat::kRaw},
    {"qcow2", ImageFormat::kQcow2},
}};
constexpr std::array<std::pair<std::string_view, Filesystem>, 8> kFilesystems{{
    {"none", Filesystem::kNone},
    {"ext2", Filesystem::kExt2},
    {"ext3", Filesystem::kExt3},
    {"ext4", Filesystem::kExt4},
    {"xfs", Filesystem::kXfs},
    {"btrfs", Filesystem::kBtrfs},
    {"vfat", Filesystem::kVfat},
    {"swap", Filesystem::kSwap},
}};
constexpr std::array<std::pair<std::string_view, PartitionTable>, 3> kPartitionTables{{
    {"none", PartitionTable::kNone},
    {"mbr", PartitionTable::kMbr},
    {"gpt", PartitionTable::kGpt},
}};
constexpr std::array<std::pair<std::string_view, Preallocation>, 4> kPreallocations{{
    {"off", Preallocation::kOff},
    {"metadata", Preallocation::kMetadata},
    {"falloc", Preallocation::kFalloc},
    {"full", Preallocation::kFull},
}};
constexpr std::array<std::pair<std::string_view, Encryption>, 2> kEncryptions{{
    {"none", Encryption::kNone},
    {"luks", Encryption::kLuks},
}};

}  // namespace

Result<ImageFormat> parseImageFormat(std::string_view name) {
  return parseName("format", name, kFormats);
}
Result<Filesystem> parseFilesystem(std::string_view name) {
  return parseName("filesystem", name, kFilesystems);
}
Result<PartitionTable> parsePartitionTable(std::string_view name) {
  return parseName("partition table", name, kPartitionTables);
}
Result<Preallocation> parsePreallocation(std::string_view name) {
  return parseName("preallocation", name, kPreallocations);
}

Result<Encryption> parseEncryption(std::string_view name) {
  return parseName("encryption", name, kEncryptions);
}

std::string_view toString(ImageFormat v) { return nameOf(v, kFormats); }
std::string_view toString(Filesystem v) { return nameOf(v, kFilesystems); }
std::string_view toString(PartitionTable v) { return nameOf(v, kPartitionTables); }
std::string_view toString(Preallocation v) { return nameOf(v, kPreallocations); }
std::string_view toString(Encryption v) { return nameOf(v, kEncryptions); }

Status validateSpec(const ImageSpec& spec, uint64_t maxSize) {
  if (spec.size == 0) return invalidArgument("size is missing or zero; give one, for example 10G");
  if (spec.size > maxSize) {
    return invalidArgument("size " + std::to_string(spec.size) + " is above the maximum of " +
                           formatSize(maxSize));
  }
  if (spec.preallocation == Preallocation::kMetadata && spec.format == ImageFormat::kRaw) {
    return invalidArgument(
        "preallocation 'metadata' needs format qcow2; raw images take off, falloc or full");
  }
  if (spec.partition == PartitionTable::kMbr && spec.size > kMbrMaxDiskSize) {
    return invalidArgument("an MBR partition table cannot describe a disk of " +
                           formatSize(spec.size) + " (at most 2 TiB); use --partition gpt");
  }
  if (spec.partition != PartitionTable::kNone && spec.size < 4 * kMiB) {
    return invalidArgument("a disk of " + formatSize(spec.size) +
                           " is too small for a partition table; give at least 4M");
  }
  if (spec.encryption == Encryption::kLuks && spec.preallocation != Preallocation::kOff) {
    return invalidArgument("preallocation '" + std::string(toString(spec.preallocation)) +
                           "' cannot be combined with encryption 'luks'; encrypted images are "
                           "sparse: use preallocation off");
  }
  VS_RETURN_IF_ERROR(validateLabel(spec.filesystem, spec.label));
  VS_RETURN_IF_ERROR(validateUuid(spec.filesystem, spec.uuid));
  if (!spec.contentDir.empty() &&
      (spec.filesystem == Filesystem::kNone || spec.filesystem == Filesystem::kSwap)) {
    return invalidArgument("content '" + spec.contentDir + "' needs a filesystem; '" +
                           std::string(toString(spec.filesystem)) + "' cannot hold files");
  }
  return {};
}

}  // namespace virtscratch::image
