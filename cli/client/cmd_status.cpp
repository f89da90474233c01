// virt-scratch status: virt-scratchd's version and its pool: path, quota, use, free space,
// templates.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/json.h"
#include "client/scratch_client.h"
#include "image/size.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch status [--json]\n"
    "\n"
    "Show virt-scratchd's version and its pool: path, quota, space used by images (the sum of\n"
    "their virtual sizes), free space, image count, host space held by templates.\n"
    "\n"
    "Options:\n"
    "  --json       print one JSON object\n"
    "  -h, --help   show this help\n";

constexpr OptionSpec kOptions[] = {{"json", false}};

}  // namespace

int runStatus(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("status", args, kUsage)) return *exit;
  if (!args->positional.empty()) return usageError("status", "status takes no arguments");
  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("status", client.status());
  auto pool = (*client)->status();
  if (!pool.ok()) return failure("status", pool.status());
  const std::string& version = pool->version;
  uint64_t quota = pool->quota, used = pool->used, free = pool->free,
           templates = pool->templateBytes;
  uint32_t count = pool->imageCount;
  if (args->has("json")) {
    std::printf("%s\n", JsonObject()
                            .add("version", version)
                            .add("pool", pool->path)
                            .add("quota", quota)
                            .add("used", used)
                            .add("free", free)
                            .add("images", static_cast<uint64_t>(count))
                            .add("templates", templates)
                            .str()
                            .c_str());
    return kExitOk;
  }
  std::printf("virt-scratchd %s\n", version.c_str());
  std::printf("Pool:   %s\n", pool->path.c_str());
  std::printf("Images: %u\n", count);
  std::printf("Used:   %s%s\n", image::formatSize(used).c_str(),
              quota == 0 ? " (no quota)" : (" of " + image::formatSize(quota) + " quota").c_str());
  std::printf("Free:   %s\n", image::formatSize(free).c_str());
  std::printf("Templates: %s (templates and spares, outside the quota)\n",
              image::formatSize(templates).c_str());
  return kExitOk;
}

}  // namespace virtscratch::cli
