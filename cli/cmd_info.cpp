// virt-scratch info: what the engine's inspectImage finds, as text or JSON.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/json.h"
#include "cli/key_file.h"
#include "image/inspect.h"
#include "image/size.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch info [--json] [--format F] [--key-file FILE] PATH\n"
    "\n"
    "Describe an image: container format, virtual size, bytes allocated on the host, bytes of\n"
    "data, partition table and partitions, and each filesystem's type, label and UUID.\n"
    "\n"
    "Options:\n"
    "  --json       print one JSON object\n"
    "  --format F   raw or qcow2: read PATH as that format (as qemu-img's -f); without it the\n"
    "               format is guessed and an image naming a backing file is refused\n"
    "  --key-file FILE  the passphrase of an encrypted image (a qcow2 with LUKS, or raw\n"
    "               LUKS), FILE's bytes, all of them, as for create --key-file\n"
    "  -h, --help   show this help\n";

constexpr OptionSpec kOptions[] = {{"json", false}, {"format", true}, {"key-file", true}};

std::string tableName(image::PartitionTable t) {
  return t == image::PartitionTable::kNone ? "none" : std::string(image::toString(t));
}

std::string toJson(const image::ImageInfo& info) {
  std::string partitions = "[";
  for (const auto& p : info.partitionTable.partitions) {
    if (partitions.size() > 1) partitions += ",";
    partitions += JsonObject()
                      .add("number", p.number)
                      .add("offset", p.offset)
                      .add("size", p.size)
                      .add("type", p.type)
                      .add("name", p.name)
                      .add("uuid", p.uuid)
                      .str();
  }
  partitions += "]";
  std::string filesystems = "[";
  for (const auto& f : info.filesystems) {
    if (filesystems.size() > 1) filesystems += ",";
    filesystems += JsonObject()
                       .add("partition", f.partition)
                       .add("offset", f.offset)
                       .add("type", f.type)
                       .add("label", f.label)
                       .add("uuid", f.uuid)
                       .str();
  }
  filesystems += "]";
  return JsonObject()
      .add("path", info.path)
      .add("format", image::toString(info.format))
      .add("virtual-size", info.virtualSize)
      .add("file-size", info.fileSize)
      .add("allocated-bytes", info.allocatedBytes)
      .add("data-bytes", info.dataBytes)
      .add("backing-file", info.backingFile)
      .add("partition-table", tableName(info.partitionTable.table))
      .add("disk-id", info.partitionTable.id)
      .addRaw("partitions", partitions)
      .addRaw("filesystems", filesystems)
      .str();
}

void printText(const image::ImageInfo& info) {
  auto size = [](uint64_t bytes) {
    return image::formatSize(bytes) + " (" + std::to_string(bytes) + " bytes)";
  };
  double percent = info.virtualSize > 0 ? 100.0 * static_cast<double>(info.dataBytes) /
                                              static_cast<double>(info.virtualSize)
                                        : 0;
  std::printf("image:           %s\n", info.path.c_str());
  std::printf("format:          %s\n", std::string(image::toString(info.format)).c_str());
  std::printf("virtual size:    %s\n", size(info.virtualSize).c_str());
  std::printf("data:            %s, %.2f%% of the virtual size\n", size(info.dataBytes).c_str(),
              percent);
  std::printf("allocated:       %s\n", size(info.allocatedBytes).c_str());
  if (!info.backingFile.empty()) std::printf("backing file:    %s\n", info.backingFile.c_str());
  std::printf("partition table: %s", tableName(info.partitionTable.table).c_str());
  if (!info.partitionTable.id.empty()) std::printf(" (id %s)", info.partitionTable.id.c_str());
  std::printf("\n");
  for (const auto& p : info.partitionTable.partitions) {
    std::printf("  partition %d:   offset %llu, %s, type %s%s%s\n", p.number,
                static_cast<unsigned long long>(p.offset), image::formatSize(p.size).c_str(),
                p.type.c_str(), p.name.empty() ? "" : ", name ", p.name.c_str());
  }
  if (info.filesystems.empty()) std::printf("filesystem:      none found\n");
  for (const auto& f : info.filesystems) {
    std::string where = f.partition == 0 ? "" : " (partition " + std::to_string(f.partition) + ")";
    std::printf("filesystem%s: %s, label '%s', uuid %s\n", where.c_str(),
                f.type.empty() ? "none found" : f.type.c_str(), f.label.c_str(),
                f.uuid.empty() ? "-" : f.uuid.c_str());
  }
}

}  // namespace

int runInfo(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("info", args, kUsage)) return *exit;
  if (args->positional.size() != 1) return usageError("info", "give exactly one image path");
  auto format = formatOption(*args, "format");
  if (!format.ok()) return usageError("info", format.status().message());
  image::OpenOptions options = image::cliOpenOptions(*format);
  if (auto keyFile = args->get("key-file")) {
    auto key = readKeyFile(*keyFile);
    if (!key.ok()) return failure("info", key.status());
    options.passphrase = std::move(*key);
  }
  auto info = image::inspectImage(args->positional[0], options);
  if (!info.ok()) return failure("info", info.status());
  if (args->has("json")) {
    std::printf("%s\n", toJson(*info).c_str());
  } else {
    printText(*info);
  }
  return kExitOk;
}

}  // namespace virtscratch::cli
