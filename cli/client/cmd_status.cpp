// virt-scratch status: virt-scratchd's version and its pool: path, quota, use, host bytes, free
// space and its state, templates.
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
    "their virtual sizes), host space they occupy (allocated, as the daemon last counted it,\n"
    "with its quota and high-water mark), free space and whether the pool is past its\n"
    "high-water mark or under its reserve, image count, host space held by templates.\n"
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
                            .add("allocated", pool->allocated)
                            .add("quota-allocated", pool->quotaAllocated)
                            .add("high-water", pool->highWater)
                            .add("space", pool->spaceState)
                            .str()
                            .c_str());
    return kExitOk;
  }
  std::printf("virt-scratchd %s\n", version.c_str());
  std::printf("Pool:   %s\n", pool->path.c_str());
  std::printf("Images: %u\n", count);
  std::printf("Used:   %s%s\n", image::formatSize(used).c_str(),
              quota == 0 ? " (no quota)" : (" of " + image::formatSize(quota) + " quota").c_str());
  std::string notes;
  if (pool->quotaAllocated != 0) notes = image::formatSize(pool->quotaAllocated) + " quota";
  if (pool->highWater != 0) {
    notes += (notes.empty() ? "" : ", ") + image::formatSize(pool->highWater) + " high-water";
  }
  std::string allocatedNotes = notes.empty() ? notes : " (" + notes + ")";
  std::printf("Allocated: %s on the host%s\n", image::formatSize(pool->allocated).c_str(),
              allocatedNotes.c_str());
  std::printf("Free:   %s\n", image::formatSize(free).c_str());
  if (pool->spaceState == "high-water") {
    std::printf("Space:  past the high-water mark: release images or give the pool more room\n");
  } else if (pool->spaceState == "reserve") {
    std::printf(
        "Space:  under the reserve: new images are refused; release images or free space\n");
  } else {
    std::printf("Space:  %s\n", pool->spaceState.c_str());
  }
  std::printf("Templates: %s (templates and spares, outside the quota)\n",
              image::formatSize(templates).c_str());
  return kExitOk;
}

}  // namespace virtscratch::cli
