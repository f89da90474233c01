// virt-scratch export --daemon IMAGE DEST: virt-scratchd writes the image as gzip into a file
// this command opened (so only where the user may write) and passes over the bus; the command
// follows its Job (progress from PropertiesChanged, the end from Completed) and cancels it on
// Ctrl-C. The file has no name until the daemon reports success: a failure, a cancel or either
// side killed leaves nothing at DEST.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

#include "base/temp_file.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "client/scratch_client.h"
#include "image/output_path.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch export --daemon [OPTIONS] IMAGE DEST\n"
    "\n"
    "Have virt-scratchd write the guest bytes of IMAGE (an id as 'virt-scratch list' shows it)\n"
    "to DEST as sparse-aware gzip, following its progress. This command opens DEST itself,\n"
    "so it may be anywhere you may write, and passes it to the daemon; DEST gets its name\n"
    "only when the export is complete. DEST '-' is standard output (a pipe or an empty file).\n"
    "Ctrl-C cancels the export.\n"
    "\n"
    "Options:\n"
    "  --force        replace DEST if it exists (once the export is complete)\n"
    "  --level N      gzip level, 1 (fastest, default) to 9 (smallest)\n"
    "  --threads N    compression threads (default: one per core)\n"
    "  --progress     show progress even when stderr is not a terminal\n"
    "  -h, --help     show this help\n";

constexpr OptionSpec kOptions[] = {
    {"daemon", false}, {"force", false}, {"level", true}, {"threads", true}, {"progress", false}};

Result<uint32_t> parseCount(const std::string& option, const std::string& value) {
  char* end = nullptr;
  unsigned long n = std::strtoul(value.c_str(), &end, 10);
  if (value.empty() || value[0] == '-' || *end != '\0' || n > UINT32_MAX) {
    return invalidArgument("--" + option + " '" + value + "' is not a number");
  }
  return static_cast<uint32_t>(n);
}

// Where the daemon writes: standard output, or an unnamed file in DEST's directory (made by this
// process, so as this user and under the umask) that is named DEST once the export is whole.
struct Output {
  std::optional<image::OutputPath> path;  // none for standard output
  std::optional<TempFile> file;
  int fd() const { return file ? file->fd() : STDOUT_FILENO; }
};

Status openOutput(const std::string& dest, bool force, Output& output) {
  if (dest == "-") {
    if (isatty(STDOUT_FILENO) == 1) {
      return invalidArgument("standard output is a terminal; redirect it or give a file");
    }
    return {};
  }
  VS_ASSIGN_OR_RETURN(image::OutputPath path, image::openOutputPath(dest));
  output.path.emplace(std::move(path));
  VS_RETURN_IF_ERROR(image::checkDestination(output.path->dir.get(), output.path->name, force));
  auto file = TempFile::create(output.path->dir.get());
  if (!file.ok()) return file.status().withContext("cannot create '" + dest + "'");
  output.file.emplace(std::move(*file));
  return {};
}

}  // namespace

int runDaemonExport(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("export", args, kUsage)) return *exit;
  if (args->positional.size() != 2) return usageError("export", "give the image and DEST");
  auto imagePath = client::imagePathFor(args->positional[0]);
  if (!imagePath.ok()) return usageError("export", imagePath.status().message());
  const std::string& destination = args->positional[1];
  bool force = args->has("force");
  client::ExportOptions options;
  for (const char* key : {"level", "threads"}) {
    if (auto v = args->get(key)) {
      auto n = parseCount(key, *v);
      if (!n.ok()) return usageError("export", n.status().message());
      (std::string_view(key) == "level" ? options.level : options.threads) = *n;
    }
  }

  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("export", client.status());
  Output output;
  if (Status s = openOutput(destination, force, output); !s.ok()) return failure("export", s);
  ProgressBar bar("export", args->has("progress"));
  Status status = (*client)->exportImage(
      *imagePath, output.fd(), options,
      [&bar](uint64_t done, uint64_t total) { bar.report(done, total); },
      [] { return interruptRequested(); });
  bar.finish();
  if (!status.ok()) {
    // Whatever the daemon wrote is not named: a failed, cancelled or cut-off export leaves
    // nothing at DEST.
    std::string left = output.file ? "; '" + destination + "' was not created"
                       : status.code() == ErrorCode::kFailed
                           ? "; the stream on standard output is incomplete"
                           : "";
    return failure("export", Status(status.code(), status.message() + left));
  }
  if (output.file) {
    Status named = output.file->publish(output.path->name, force);
    if (!named.ok()) {
      return failure("export", image::notWritten(named, output.path->dir.get(), output.path->name,
                                                 destination));
    }
  }
  return kExitOk;
}

}  // namespace virtscratch::cli
