// virt-scratch allocate: asks virt-scratchd for a scratch image for a domain.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "cli/args.h"
#include "cli/client/image_text.h"
#include "cli/commands.h"
#include "client/scratch_client.h"
#include "client/utf8.h"
#include "image/size.h"
#include "vocabulary/allocate_spec.h"
#include "vocabulary/discard.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch allocate DOMAIN --size SIZE [OPTIONS]\n"
    "       virt-scratch allocate DOMAIN --size-per-vcpu SIZE --vcpus N [OPTIONS]\n"
    "\n"
    "Ask virt-scratchd for a scratch image for DOMAIN (a libvirt domain UUID, or its name when\n"
    "the daemon is connected to libvirt). Asking again for the same domain and target returns\n"
    "the existing image. Prints the image file's path (or, with --json, its description).\n"
    "\n"
    "Options:\n"
    "  --size SIZE            virtual size: bytes, or with K, M, G, T, P (1K = 1024)\n"
    "  --size-per-vcpu SIZE   size per vCPU, instead of --size\n"
    "  --vcpus N              the vCPU count --size-per-vcpu is multiplied by\n"
    "  --format F             raw or qcow2 (default qcow2)\n"
    "  --filesystem F         none, ext2, ext3, ext4, xfs, btrfs, vfat or swap (default ext4)\n"
    "  --label L              filesystem label (and GPT partition name)\n"
    "  --uuid U               filesystem UUID (vfat: volume id XXXX-XXXX); default random\n"
    "  --partition P          none, mbr or gpt (default none)\n"
    "  --preallocation P      off, metadata (qcow2), falloc or full (default off)\n"
    "  --content DIR          copy DIR's files in; DIR must be under a content root of the\n"
    "                         daemon's configuration\n"
    "  --encryption E         none or luks (default: the daemon's [pool] encryption); the key\n"
    "                         becomes a libvirt secret, or stays in the daemon's memory\n"
    "  --discard D            unmap (the blocks the guest frees go back to the host) or\n"
    "                         ignore, for the disk the daemon hot-plugs (default: the\n"
    "                         daemon's [pool] discard; preallocated images: ignore)\n"
    "  --target T             guest device name, [a-z0-9] (default vdb)\n"
    "  --lifetime L           boot (removed when the VM stops; default), domain (kept until\n"
    "                         the VM is undefined) or manual (until released)\n"
    "  --json                 print the image's description as one JSON object\n"
    "  -h, --help             show this help\n";

constexpr OptionSpec kOptions[] = {
    {"size", true},          {"size-per-vcpu", true}, {"vcpus", true},   {"format", true},
    {"filesystem", true},    {"label", true},         {"uuid", true},    {"partition", true},
    {"preallocation", true}, {"content", true},       {"target", true},  {"lifetime", true},
    {"json", false},         {"encryption", true},    {"discard", true},
};

// The a{sv} spec. Names (format, filesystem, ...) go as given: the daemon checks them.
Result<vocabulary::SpecMap> specFromArgs(const Args& args) {
  vocabulary::SpecMap spec;
  if (auto v = args.get("size")) {
    VS_ASSIGN_OR_RETURN(uint64_t size, image::parseSize(*v));
    spec["size"] = size;
  }
  if (auto v = args.get("size-per-vcpu")) {
    VS_ASSIGN_OR_RETURN(uint64_t size, image::parseSize(*v));
    spec["size-per-vcpu"] = size;
  }
  if (auto v = args.get("vcpus")) {
    char* end = nullptr;
    unsigned long n = std::strtoul(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || n > UINT32_MAX || (*v)[0] == '-') {
      return invalidArgument("--vcpus '" + *v + "' is not a count of vCPUs");
    }
    spec["vcpus"] = static_cast<uint32_t>(n);
  }
  for (const char* key : {"format", "filesystem", "label", "uuid", "partition", "preallocation",
                          "encryption", "target", "lifetime"}) {
    if (auto v = args.get(key)) {
      VS_RETURN_IF_ERROR(client::requireUtf8(std::string("--") + key, *v));
      spec[key] = *v;
    }
  }
  if (auto v = args.get("discard")) {
    auto discard = vocabulary::parseDiscard(*v);
    if (!discard.ok()) return discard.status().withContext("--discard");
    spec["discard"] = *discard;
  }
  if (auto v = args.get("content")) {
    // The daemon does not share our working directory.
    std::error_code error;
    std::string dir = std::filesystem::absolute(*v, error).lexically_normal().string();
    if (error) return invalidArgument("--content '" + *v + "': " + error.message());
    VS_RETURN_IF_ERROR(client::requireUtf8("--content", dir));
    spec["content"] = dir;
  }
  return spec;
}

}  // namespace

int runAllocate(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("allocate", args, kUsage)) return *exit;
  if (args->positional.size() != 1) {
    return usageError("allocate", args->positional.empty()
                                      ? "give the domain (UUID or name) to allocate for"
                                      : "give exactly one domain");
  }
  const std::string& domain = args->positional[0];
  if (Status s = client::requireUtf8("the domain", domain); !s.ok())
    return usageError("allocate", s.message());
  auto spec = specFromArgs(*args);
  if (!spec.ok()) return usageError("allocate", spec.status().message());

  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("allocate", client.status());
  (*spec)["origin"] = std::string("cli");
  auto allocated = (*client)->allocate(domain, *spec);
  if (!allocated.ok()) return failure("allocate", allocated.status());
  std::string output = allocated->path + "\n";
  if (args->has("json")) {
    auto image = (*client)->image(allocated->object);
    if (!image.ok()) return failure("allocate", image.status());
    output = imageJson(*image) + "\n";
  }
  std::fputs(output.c_str(), stdout);
  return kExitOk;
}

}  // namespace virtscratch::cli
