// virt-scratch release: deletes one image, or every image of a domain, through virt-scratchd.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/scratch_client.h"
#include "client/utf8.h"
#include "vocabulary/bus_names.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch release [--force] DOMAIN|IMAGE\n"
    "\n"
    "Delete a scratch image: IMAGE is an image id as 'virt-scratch list' shows it (or its\n"
    "object path); DOMAIN (a UUID or name) releases every image of that domain.\n"
    "An image attached to a running domain is not released (Busy) unless --force.\n"
    "\n"
    "Options:\n"
    "  --force      release even images a running domain has attached\n"
    "  -h, --help   show this help\n";

constexpr OptionSpec kOptions[] = {{"force", false}};

// Image ids are "<32 hex digits>_<target>"; a domain UUID or name is anything else.
bool looksLikeImage(const std::string& arg) {
  if (arg.starts_with('/')) return true;
  size_t underscore = arg.find('_');
  return underscore == 32 && vocabulary::isValidImageId(arg);
}

}  // namespace

int runRelease(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("release", args, kUsage)) return *exit;
  if (args->positional.size() != 1) {
    return usageError("release", "give one domain or image to release");
  }
  const std::string& what = args->positional[0];
  if (Status s = client::requireUtf8("the domain or image", what); !s.ok()) {
    return usageError("release", s.message());
  }
  bool force = args->has("force");
  if (looksLikeImage(what)) {
    auto path = client::imagePathFor(what);
    if (!path.ok()) return usageError("release", path.status().message());
    auto client = client::ScratchClient::connect();
    if (!client.ok()) return failure("release", client.status());
    if (Status s = (*client)->releaseImage(*path, force); !s.ok()) return failure("release", s);
    std::printf("released %s\n", vocabulary::imageIdOf(*path).value_or(what).c_str());
    return kExitOk;
  }
  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("release", client.status());
  client::ReleaseDomainOptions options;
  options.force = force;
  options.origin = "cli";
  auto released = (*client)->releaseDomain(what, options);
  if (!released.ok()) return failure("release", released.status());
  std::printf("released %u image%s of %s\n", *released, *released == 1 ? "" : "s", what.c_str());
  return kExitOk;
}

}  // namespace virtscratch::cli
