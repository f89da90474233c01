// virt-scratch export --daemon IMAGE DEST: virt-scratchd writes the image as gzip into a file
// this command opened (so only where the user may write) and passes over the bus; the command
// follows its Job (progress from PropertiesChanged, the end from Completed) and cancels it on
// Ctrl-C. The file has no name until the daemon reports success: a failure, a cancel or either
// side killed leaves nothing at DEST.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/client/bus_client.h"
#include "cli/commands.h"
#include "cli/progress_bar.h"
#include "daemon/dbus/object_paths.h"
#include "image/output_path.h"
#include "base/temp_file.h"

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

constexpr char kJobInterface[] = "org.virtscratch.Scratch1.Job";

Result<uint32_t> parseCount(const std::string& option, const std::string& value) {
  char* end = nullptr;
  unsigned long n = std::strtoul(value.c_str(), &end, 10);
  if (value.empty() || value[0] == '-' || *end != '\0' || n > UINT32_MAX) {
    return invalidArgument("--" + option + " '" + value + "' is not a number");
  }
  return static_cast<uint32_t>(n);
}

// What the job's signals said; signals arrive before the Export reply is read, so they are
// kept by path until the job's path is known.
struct JobEvents {
  std::map<std::string, double> progress;
  std::map<std::string, std::pair<bool, std::string>> completed;
};

void onJobSignal(sdbus::Message& message, JobEvents& events) {
  std::string path = message.getPath();
  std::string member = message.getMemberName();
  if (member == "Completed") {
    bool success = false;
    std::string text;
    message >> success >> text;
    events.completed[path] = {success, text};
  } else if (member == "PropertiesChanged") {
    std::string interface;
    PropertyMap changed;
    message >> interface >> changed;
    auto it = changed.find("Progress");
    if (interface == kJobInterface && it != changed.end() &&
        it->second.containsValueOfType<double>()) {
      events.progress[path] = it->second.get<double>();
    }
  }
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
  auto imagePath = imagePathFor(args->positional[0]);
  if (!imagePath.ok()) return usageError("export", imagePath.status().message());
  const std::string& destination = args->positional[1];
  bool force = args->has("force");
  std::map<std::string, sdbus::Variant> options;
  for (const char* key : {"level", "threads"}) {
    if (auto v = args->get(key)) {
      auto n = parseCount(key, *v);
      if (!n.ok()) return usageError("export", n.status().message());
      options[key] = sdbus::Variant(*n);
    }
  }

  auto connection = connectToBus();
  if (!connection.ok()) return failure("export", connection.status());
  Output output;
  if (Status s = openOutput(destination, force, output); !s.ok()) return failure("export", s);
  sdbus::IConnection& bus = **connection;
  JobEvents events;
  bool daemonGone = false;  // virt-scratchd left the bus (killed or restarted)
  std::string jobPath;
  std::optional<std::pair<bool, std::string>> result;
  Status status = callBus([&]() -> Status {
    // Subscribe before the job exists: a short job may end before Export's reply is read.
    std::string rule =
        "type='signal',sender='" + std::string(daemon::bus::kBusName) + "',path_namespace='" +
        std::string(daemon::bus::kJobPathPrefix.substr(0, daemon::bus::kJobPathPrefix.size() - 1)) +
        "'";
    auto slot = bus.addMatch(rule, [&events](sdbus::Message& m) { onJobSignal(m, events); });
    // A daemon that dies sends no Completed: its name losing its owner ends the wait instead.
    std::string ownerRule =
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        "member='NameOwnerChanged',arg0='" +
        std::string(daemon::bus::kBusName) + "'";
    auto ownerSlot = bus.addMatch(ownerRule, [&daemonGone](sdbus::Message& m) {
      std::string name, oldOwner, newOwner;
      m >> name >> oldOwner >> newOwner;
      if (newOwner.empty()) daemonGone = true;
    });
    ImageProxy image(bus, *imagePath);
    uint64_t total = image.VirtualSize();
    ManagerProxy manager(bus);
    jobPath = manager.Export(sdbus::ObjectPath(*imagePath), sdbus::UnixFd(output.fd()), options);

    ProgressBar bar("export", args->has("progress"));
    bool cancelSent = false;
    pumpUntil(
        bus, [&] { return events.completed.contains(jobPath) || daemonGone; },
        [&] {
          if (auto it = events.progress.find(jobPath); it != events.progress.end()) {
            bar.report(static_cast<uint64_t>(it->second * static_cast<double>(total)), total);
          }
          if (interruptRequested() && !cancelSent) {
            cancelSent = true;
            JobProxy job(bus, jobPath);
            try {
              job.Cancel();
            } catch (const sdbus::Error&) {
              // The job ended meanwhile; its Completed signal tells how.
            }
          }
        });
    bool ended = events.completed.contains(jobPath);
    if (ended && events.completed[jobPath].first) bar.report(total, total);
    bar.finish();
    if (!ended) {
      // Whether the daemon wrote all of it before it went is unknown: the file is not named.
      std::string left = output.file ? "'" + destination + "' was not created"
                                     : "the stream on standard output is incomplete";
      return failed("virt-scratchd stopped before the export ended (killed or restarted); " + left +
                    "; run the export again");
    }
    result = events.completed[jobPath];
    return {};
  });
  if (!status.ok()) return failure("export", status);
  if (!result->first) {
    bool cancelled = interruptRequested();
    std::string left = output.file ? "; '" + destination + "' was not created" : "";
    return failure("export", Status(cancelled ? ErrorCode::kCancelled : ErrorCode::kFailed,
                                    result->second + left));
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
