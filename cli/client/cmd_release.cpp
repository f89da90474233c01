// virt-scratch release: deletes one image, or every image of a domain, through virt-scratchd.
#include <cstdio>
#include <map>
#include <string>

#include "cli/args.h"
#include "cli/client/bus_client.h"
#include "cli/commands.h"
#include "daemon/dbus/object_paths.h"

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
  return underscore == 32 && daemon::bus::isValidImageId(arg);
}

}  // namespace

int runRelease(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("release", args, kUsage)) return *exit;
  if (args->positional.size() != 1) {
    return usageError("release", "give one domain or image to release");
  }
  const std::string& what = args->positional[0];
  if (Status s = requireUtf8("the domain or image", what); !s.ok()) {
    return usageError("release", s.message());
  }
  auto connection = connectToBus();
  if (!connection.ok()) return failure("release", connection.status());
  std::map<std::string, sdbus::Variant> options;
  if (args->has("force")) options["force"] = sdbus::Variant(true);

  if (looksLikeImage(what)) {
    auto path = imagePathFor(what);
    if (!path.ok()) return usageError("release", path.status().message());
    Status status = callBus([&]() -> Status {
      ImageProxy image(**connection, *path);
      image.Release(options);
      return {};
    });
    if (!status.ok()) return failure("release", status);
    std::printf("released %s\n", daemon::bus::imageIdOf(*path).value_or(what).c_str());
    return kExitOk;
  }
  uint32_t released = 0;
  Status status = callBus([&]() -> Status {
    ManagerProxy manager(**connection);
    released = manager.ReleaseDomain(what, options);
    return {};
  });
  if (!status.ok()) return failure("release", status);
  std::printf("released %u image%s of %s\n", released, released == 1 ? "" : "s", what.c_str());
  return kExitOk;
}

}  // namespace virtscratch::cli
