// virt-scratch export and import: gzip transport of the guest's bytes.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/key_file.h"
#include "cli/progress_bar.h"
#include "image/transport.h"

namespace virtscratch::cli {
namespace {

constexpr char kExportUsage[] =
    "Usage: virt-scratch export [OPTIONS] IMAGE OUT.gz\n"
    "\n"
    "Write the guest-visible bytes of IMAGE (raw or qcow2) as a standard gzip stream that gunzip,\n"
    "zcat and any gzip library read. Holes are not compressed byte by byte, so the time follows\n"
    "the data, not the virtual size. OUT.gz '-' writes to standard output.\n"
    "'virt-scratch export --daemon IMAGE DEST' exports one of virt-scratchd's images instead\n"
    "(see 'virt-scratch export --daemon --help').\n"
    "\n"
    "Options:\n"
    "  --format F     raw or qcow2: read IMAGE as that format (as qemu-img's -f); without it\n"
    "                 the format is guessed and an image naming a backing file is refused\n"
    "  --key-file FILE  the passphrase of an encrypted IMAGE (a qcow2 with LUKS, or raw LUKS):\n"
    "                 FILE's bytes, all of them; the guest's plaintext is exported\n"
    "  --level N      compression level 1-9 (default 1)\n"
    "  --threads N    compression threads (default: one per CPU)\n"
    "  --force        replace OUT.gz if it exists\n"
    "  --progress     show progress even when stderr is not a terminal\n"
    "  -h, --help     show this help\n";

constexpr char kImportUsage[] =
    "Usage: virt-scratch import [OPTIONS] IN OUT\n"
    "\n"
    "Make a sparse image OUT from IN: a gzip stream (one or several members, as gzip and pigz\n"
    "write), or with --from a raw or qcow2 image. Runs of zeros become holes; every gzip member's\n"
    "CRC32 and length are checked. IN '-' reads gzip from standard input. IN is read as gzip\n"
    "only if it starts with gzip's magic bytes; nothing is guessed.\n"
    "\n"
    "Options:\n"
    "  --from F       IN is a raw or qcow2 image, not gzip\n"
    "  --format F     OUT's format: raw or qcow2 (default raw)\n"
    "  --force        replace OUT if it exists\n"
    "  --progress     show progress even when stderr is not a terminal\n"
    "  -h, --help     show this help\n";

constexpr OptionSpec kExportOptions[] = {{"format", true}, {"key-file", true},
                                         {"level", true},  {"threads", true},
                                         {"force", false}, {"progress", false}};
constexpr OptionSpec kImportOptions[] = {
    {"from", true}, {"format", true}, {"force", false}, {"progress", false}};

Result<long> parseNumber(std::string_view option, const std::string& text, long min, long max) {
  char* end = nullptr;
  errno = 0;
  long v = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < min || v > max) {
    return invalidArgument("--" + std::string(option) + " '" + text + "' is not a number from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

}  // namespace

int runExport(std::span<char* const> argv) {
  auto args = parseArgs(argv, kExportOptions);
  if (auto exit = endEarly("export", args, kExportUsage)) return *exit;
  if (args->positional.size() != 2) return usageError("export", "give IMAGE and OUT.gz");
  image::ExportRequest request;
  request.image = args->positional[0];
  request.output = args->positional[1];
  request.force = args->has("force");
  auto format = formatOption(*args, "format");
  if (!format.ok()) return usageError("export", format.status().message());
  request.format = *format;
  if (auto keyFile = args->get("key-file")) {
    auto key = readKeyFile(*keyFile);
    if (!key.ok()) return failure("export", key.status());
    request.passphrase = std::move(*key);
  }
  if (auto v = args->get("level")) {
    auto level = parseNumber("level", *v, 1, 9);
    if (!level.ok()) return usageError("export", level.status().message());
    request.gzip.level = static_cast<int>(*level);
  }
  if (auto v = args->get("threads")) {
    auto threads = parseNumber("threads", *v, 1, 256);
    if (!threads.ok()) return usageError("export", threads.status().message());
    request.gzip.threads = static_cast<unsigned>(*threads);
  }
  if (request.output == "-" && isatty(STDOUT_FILENO) == 1) {
    return usageError("export", "standard output is a terminal; redirect it or give a file");
  }
  ProgressBar progress("export", args->has("progress"));
  request.gzip.progress = &progress;
  Status status = image::exportImage(request);
  progress.finish();
  // Some of the engine's errors about the image leave its name out ("Is a directory").
  if (!status.ok() && status.message().find(request.image) == std::string::npos) {
    status = status.withContext("'" + request.image + "'");
  }
  return status.ok() ? kExitOk : failure("export", status);
}

int runImport(std::span<char* const> argv) {
  auto args = parseArgs(argv, kImportOptions);
  if (auto exit = endEarly("import", args, kImportUsage)) return *exit;
  if (args->positional.size() != 2) return usageError("import", "give IN and OUT");
  image::ImportRequest request;
  request.input = args->positional[0];
  request.output = args->positional[1];
  request.force = args->has("force");
  if (auto v = args->get("format")) {
    auto format = image::parseImageFormat(*v);
    if (!format.ok()) return usageError("import", format.status().message());
    request.format = *format;
  }
  auto from = formatOption(*args, "from");
  if (!from.ok()) return usageError("import", from.status().message());
  request.from = *from;
  ProgressBar progress("import", args->has("progress"));
  request.progress = &progress;
  Status status = image::importImage(request);
  progress.finish();
  return status.ok() ? kExitOk : failure("import", status);
}

}  // namespace virtscratch::cli
