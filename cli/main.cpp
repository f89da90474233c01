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
};

void printUsage(FILE* out) {
  std::fprintf(out, "Usage: virt-scratch COMMAND [OPTIONS] ARGS\n\nCommands:\n");
  for (const auto& c : kCommands) {
    std::fprintf(out, "  %-8.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
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
  for (const auto& c : kCommands) {
    if (c.name == name) {
      installSignalHandlers();
      return c.run(std::span<char* const>(argv + 2, static_cast<size_t>(argc - 2)));
    }
  }
  std::fprintf(stderr, "virt-scratch: unknown command '%s'\n\n", argv[1]);
  printUsage(stderr);
  return kExitUsage;
}
