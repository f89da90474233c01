// virt-scratch clone and resize.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "image/clone.h"
#include "image/filesystem_uuid.h"
#include "image/resize.h"
#include "image/size.h"

namespace virtscratch::cli {
namespace {

constexpr char kCloneUsage[] =
    "Usage: virt-scratch clone [OPTIONS] SRC DST\n"
    "\n"
    "Copy the image SRC to DST: a reflink where the host filesystem shares blocks, otherwise a\n"
    "copy of the data only. Every filesystem in the clone gets a new UUID, so two clones never\n"
    "share one.\n"
    "\n"
    "Options:\n"
    "  --format F     raw or qcow2: read SRC as that format (as qemu-img's -f); without it\n"
    "                 the format is guessed and an image naming a backing file is refused\n"
    "  --backing      make DST a qcow2 overlay on SRC instead of a copy\n"
    "  --uuid U       the clone's filesystem UUID (default random)\n"
    "  --force        replace DST if it exists\n"
    "  --progress     show progress even when stderr is not a terminal\n"
    "  -h, --help     show this help\n";

constexpr char kResizeUsage[] =
    "Usage: virt-scratch resize [OPTIONS] IMAGE SIZE\n"
    "\n"
    "Grow IMAGE to SIZE (as for create: 20G, 1T, ...): the image, its last partition and, where\n"
    "it can be done offline, its filesystem (ext2/3/4). Other filesystems are left consistent\n"
    "and the command says how to grow them in the guest. Shrinking is refused.\n"
    "\n"
    "Options:\n"
    "  --format F     raw or qcow2: read IMAGE as that format (as qemu-img's -f); without it\n"
    "                 the format is guessed and an image naming a backing file is refused\n"
    "  --progress     show progress even when stderr is not a terminal\n"
    "  -h, --help     show this help\n";

constexpr OptionSpec kCloneOptions[] = {
    {"format", true}, {"backing", false}, {"uuid", true}, {"force", false}, {"progress", false}};
constexpr OptionSpec kResizeOptions[] = {{"format", true}, {"progress", false}};

}  // namespace

int runClone(std::span<char* const> argv) {
  auto args = parseArgs(argv, kCloneOptions);
  if (auto exit = endEarly("clone", args, kCloneUsage)) return *exit;
  if (args->positional.size() != 2) return usageError("clone", "give SRC and DST");
  if (auto uuid = args->get("uuid")) {
    // Checked here, not only per filesystem found: on an image without filesystems a bad UUID
    // would otherwise pass unnoticed.
    if (!image::checkFilesystemUuid("ext4", *uuid).ok() &&
        !image::checkFilesystemUuid("vfat", *uuid).ok()) {
      return usageError("clone", "--uuid '" + *uuid +
                                     "' is neither a UUID (8-4-4-4-12 hex digits) nor a vfat "
                                     "volume id (XXXX-XXXX)");
    }
  }
  auto format = formatOption(*args, "format");
  if (!format.ok()) return usageError("clone", format.status().message());
  ProgressBar progress("clone", args->has("progress"));
  image::CloneOptions options;
  options.source = image::cliOpenOptions(*format);
  options.backing = args->has("backing");
  options.force = args->has("force");
  options.filesystemUuid = args->get("uuid").value_or("");
  options.progress = &progress;
  Status status = image::cloneImage(args->positional[0], args->positional[1], options);
  progress.finish();
  return status.ok() ? kExitOk : failure("clone", status);
}

int runResize(std::span<char* const> argv) {
  auto args = parseArgs(argv, kResizeOptions);
  if (auto exit = endEarly("resize", args, kResizeUsage)) return *exit;
  if (args->positional.size() != 2) return usageError("resize", "give IMAGE and SIZE");
  auto size = image::parseSize(args->positional[1]);
  if (!size.ok()) return usageError("resize", size.status().message());
  auto format = formatOption(*args, "format");
  if (!format.ok()) return usageError("resize", format.status().message());
  ProgressBar progress("resize", args->has("progress"));
  auto result =
      image::resizeImage(args->positional[0], *size, image::cliOpenOptions(*format), &progress);
  progress.finish();
  if (!result.ok()) return failure("resize", result.status());
  std::printf(
      "%s: %s -> %s%s%s\n", args->positional[0].c_str(), image::formatSize(result->oldSize).c_str(),
      image::formatSize(result->newSize).c_str(), result->partitionGrown ? ", partition grown" : "",
      result->filesystemGrown ? ", filesystem grown" : "");
  if (!result->note.empty()) std::printf("note: %s\n", result->note.c_str());
  return kExitOk;
}

}  // namespace virtscratch::cli
