// virt-scratch list and show: the images virt-scratchd holds, as a table, text or JSON.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/client/image_text.h"
#include "cli/commands.h"
#include "client/scratch_client.h"
#include "image/size.h"

namespace virtscratch::cli {
namespace {

constexpr char kListUsage[] =
    "Usage: virt-scratch list [--json]\n"
    "\n"
    "List the scratch images virt-scratchd holds: id, domain, target, state, lifetime, format,\n"
    "filesystem and virtual size. Anyone may list.\n"
    "\n"
    "Options:\n"
    "  --json       print a JSON array of objects\n"
    "  -h, --help   show this help\n";

constexpr char kShowUsage[] =
    "Usage: virt-scratch show [--json] IMAGE\n"
    "\n"
    "Describe one image; IMAGE is its id as 'virt-scratch list' shows it, or its object path.\n"
    "\n"
    "Options:\n"
    "  --json       print one JSON object\n"
    "  -h, --help   show this help\n";

constexpr OptionSpec kOptions[] = {{"json", false}};

}  // namespace

int runList(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("list", args, kListUsage)) return *exit;
  if (!args->positional.empty()) return usageError("list", "list takes no arguments");
  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("list", client.status());
  auto images = (*client)->listImages();
  if (!images.ok()) return failure("list", images.status());

  if (args->has("json")) {
    std::string out = "[";
    for (const client::ImageInfo& image : *images) {
      if (out.size() > 1) out += ",";
      out += imageJson(image);
    }
    std::printf("%s]\n", out.c_str());
    return kExitOk;
  }
  std::printf("%-40s %-36s %-6s %-9s %-8s %-5s %-6s %s\n", "ID", "DOMAIN", "TARGET", "STATE",
              "LIFETIME", "FMT", "FS", "SIZE");
  for (const client::ImageInfo& image : *images) {
    std::printf("%-40s %-36s %-6s %-9s %-8s %-5s %-6s %s\n", image.id.c_str(), image.domain.c_str(),
                image.target.c_str(), image.state.c_str(), image.lifetime.c_str(),
                image.format.c_str(), image.filesystem.c_str(),
                image::formatSize(image.virtualSize).c_str());
  }
  return kExitOk;
}

int runShow(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("show", args, kShowUsage)) return *exit;
  if (args->positional.size() != 1) return usageError("show", "give one image id");
  auto path = client::imagePathFor(args->positional[0]);
  if (!path.ok()) return usageError("show", path.status().message());
  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("show", client.status());
  auto image = (*client)->image(*path);
  if (!image.ok() && image.status().code() == ErrorCode::kNotFound) {
    return failure("show", Status(ErrorCode::kNotFound, "no image '" + args->positional[0] +
                                                            "' (see 'virt-scratch list')"));
  }
  if (!image.ok()) return failure("show", image.status());
  std::fputs((args->has("json") ? imageJson(*image) + "\n" : imageText(*image)).c_str(), stdout);
  return kExitOk;
}

}  // namespace virtscratch::cli
