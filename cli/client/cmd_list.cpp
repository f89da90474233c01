// virt-scratch list and show: the images virt-scratchd holds, as a table, text or JSON.
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/client/bus_client.h"
#include "cli/commands.h"
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

std::string text(const PropertyMap& props, const char* name) {
  auto it = props.find(name);
  return it != props.end() && it->second.containsValueOfType<std::string>()
             ? it->second.get<std::string>()
             : std::string();
}

uint64_t number(const PropertyMap& props, const char* name) {
  auto it = props.find(name);
  return it != props.end() && it->second.containsValueOfType<uint64_t>()
             ? it->second.get<uint64_t>()
             : 0;
}

}  // namespace

int runList(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("list", args, kListUsage)) return *exit;
  if (!args->positional.empty()) return usageError("list", "list takes no arguments");
  auto connection = connectToBus();
  if (!connection.ok()) return failure("list", connection.status());
  std::map<std::string, PropertyMap> images;
  Status status = callBus([&]() -> Status {
    images = allImages(**connection);
    return {};
  });
  if (!status.ok()) return failure("list", status);

  if (args->has("json")) {
    std::string out = "[";
    for (const auto& [path, props] : images) {
      if (out.size() > 1) out += ",";
      out += imageJson(path, props);
    }
    std::printf("%s]\n", out.c_str());
    return kExitOk;
  }
  std::printf("%-40s %-36s %-6s %-9s %-8s %-5s %-6s %s\n", "ID", "DOMAIN", "TARGET", "STATE",
              "LIFETIME", "FMT", "FS", "SIZE");
  for (const auto& [path, props] : images) {
    std::printf("%-40s %-36s %-6s %-9s %-8s %-5s %-6s %s\n", text(props, "Id").c_str(),
                text(props, "Domain").c_str(), text(props, "Target").c_str(),
                text(props, "State").c_str(), text(props, "Lifetime").c_str(),
                text(props, "Format").c_str(), text(props, "Filesystem").c_str(),
                image::formatSize(number(props, "VirtualSize")).c_str());
  }
  return kExitOk;
}

int runShow(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("show", args, kShowUsage)) return *exit;
  if (args->positional.size() != 1) return usageError("show", "give one image id");
  auto path = imagePathFor(args->positional[0]);
  if (!path.ok()) return usageError("show", path.status().message());
  auto connection = connectToBus();
  if (!connection.ok()) return failure("show", connection.status());
  PropertyMap props;
  Status status = callBus([&]() -> Status {
    ImageProxy image(**connection, *path);
    props = image.GetAll(org::virtscratch::Scratch1::Image_proxy::INTERFACE_NAME);
    return {};
  });
  if (status.code() == ErrorCode::kFailed &&
      status.message().find("UnknownObject") != std::string::npos) {
    status = Status(ErrorCode::kNotFound,
                    "no image '" + args->positional[0] + "' (see 'virt-scratch list')");
  }
  if (!status.ok()) return failure("show", status);
  std::fputs((args->has("json") ? imageJson(*path, props) + "\n" : imageText(props)).c_str(),
             stdout);
  return kExitOk;
}

}  // namespace virtscratch::cli
