// virt-scratch metrics: virt-scratchd's metrics, the text [metrics] textfile holds.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/commands.h"
#include "client/scratch_client.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch metrics\n"
    "\n"
    "Print virt-scratchd's metrics in Prometheus' text format, as it writes them to\n"
    "[metrics] textfile for node_exporter: images by state and lifetime, the pool's virtual,\n"
    "allocated, free and template bytes, Allocate latency by path (cold, template, spare),\n"
    "requests by origin, jobs by outcome, and the libvirt connection. Anyone may read them.\n"
    "\n"
    "Options:\n"
    "  -h, --help   show this help\n";

}  // namespace

int runMetrics(std::span<char* const> argv) {
  auto args = parseArgs(argv, {});
  if (auto exit = endEarly("metrics", args, kUsage)) return *exit;
  if (!args->positional.empty()) return usageError("metrics", "metrics takes no arguments");
  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("metrics", client.status());
  auto text = (*client)->metrics();
  if (!text.ok()) return failure("metrics", text.status());
  std::fwrite(text->data(), 1, text->size(), stdout);
  return kExitOk;
}

}  // namespace virtscratch::cli
