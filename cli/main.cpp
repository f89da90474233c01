// virt-scratch: offline image commands. main only dispatches.
#include <cstdio>
#include <span>
#include <string_view>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/signals.h"

namespace {

struct Command {
  std::string_view name;
  int (*run)(std::span<char* const>);
  std::string_view summary;
};

constexpr Command kCommands[] = {
    {"create", virtscratch::cli::runCreate, "make a formatted scratch image"},
    {"info", virtscratch::cli::runInfo, "describe an image: format, sizes, partitions, filesystem"},
    {"export", virtscratch::cli::runExport, "write an image's guest bytes as sparse-aware gzip"},
    {"import", virtscratch::cli::runImport, "make a sparse image from gzip, raw or qcow2"},
    {"clone", virtscratch::cli::runClone, "copy an image; its filesystems get new UUIDs"},
    {"resize", virtscratch::cli::runResize, "grow an image, its partition and filesystem"},
    {"allocate", virtscratch::cli::runAllocate,
     "ask virt-scratchd for a scratch image for a domain"},
    {"release", virtscratch::cli::runRelease,
     "delete a domain's images, or one image, in virt-scratchd"},
    {"list", virtscratch::cli::runList, "list virt-scratchd's images"},
    {"show", virtscratch::cli::runShow, "describe one of virt-scratchd's images"},
    {"key", virtscratch::cli::runKey, "write an encrypted image's key into a new file (root)"},
    {"status", virtscratch::cli::runStatus,
     "show virt-scratchd's pool: quotas, use, host bytes, free space"},
    {"metrics", virtscratch::cli::runMetrics, "print virt-scratchd's metrics (Prometheus text)"},
    {"enable", virtscratch::cli::runEnable, "give a libvirt domain a scratch disk at each start"},
    {"disable", virtscratch::cli::runDisable, "take a libvirt domain's scratch disk away"},
};

void printUsage(FILE* out) {
  std::fprintf(out, "Usage: virt-scratch COMMAND [OPTIONS] ARGS\n\nCommands:\n");
  for (const auto& c : kCommands) {
    std::fprintf(out, "  %-9.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(out, "\n'virt-scratch COMMAND --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace virtscratch::cli;
  if (argc < 2) {
    printUsage(stderr);
    return kExitUsage;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    printUsage(stdout);
    return kExitOk;
  }
  if (name == "--version") {
    std::printf("virt-scratch %s\n", VIRTSCRATCH_VERSION);
    return kExitOk;
  }
  std::span<char* const> rest(argv + 2, static_cast<size_t>(argc - 2));
  if (name == "export") {
    // `export --daemon` asks virt-scratchd to export one of its images and follows the job.
    for (std::string_view arg : rest) {
      if (arg == "--") break;
      if (arg == "--daemon") {
        installSignalHandlers();
        return runDaemonExport(rest);
      }
    }
  }
  for (const auto& c : kCommands) {
    if (c.name == name) {
      installSignalHandlers();
      return c.run(rest);
    }
  }
  std::fprintf(stderr, "virt-scratch: unknown command '%s'\n\n", argv[1]);
  printUsage(stderr);
  return kExitUsage;
}
