#include "cli/client/image_text.h"

#include <ctime>
#include <string_view>

#include "cli/json.h"
#include "image/size.h"

namespace virtscratch::cli {
namespace {

std::string formatTime(uint64_t us) {
  time_t seconds = static_cast<time_t>(us / 1000000);
  struct tm tm {};
  char text[64] = "";
  if (gmtime_r(&seconds, &tm) != nullptr) strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

}  // namespace

std::string imageText(const client::ImageInfo& p) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) {
    out += key;
    out += ": ";
    out += value;
    out += '\n';
  };
  line("Id", p.id);
  line("Path", p.path);
  line("Domain", p.domain);
  if (!p.domainName.empty()) line("DomainName", p.domainName);
  line("Target", p.target);
  line("State", p.state);
  line("Lifetime", p.lifetime);
  line("Format", p.format);
  line("Filesystem", p.filesystem);
  if (!p.label.empty()) line("Label", p.label);
  line("FilesystemUuid", p.filesystemUuid);
  line("Encryption", p.encryption);
  line("VirtualSize", image::formatSize(p.virtualSize));
  line("AllocatedSize", image::formatSize(p.allocatedSize));
  line("Created", formatTime(p.createdUs));
  return out;
}

std::string imageJson(const client::ImageInfo& p) {
  return JsonObject()
      .add("id", p.id)
      .add("object", p.object)
      .add("path", p.path)
      .add("domain", p.domain)
      .add("domain-name", p.domainName)
      .add("target", p.target)
      .add("state", p.state)
      .add("lifetime", p.lifetime)
      .add("format", p.format)
      .add("filesystem", p.filesystem)
      .add("label", p.label)
      .add("filesystem-uuid", p.filesystemUuid)
      .add("encryption", p.encryption)
      .add("virtual-size", p.virtualSize)
      .add("allocated-size", p.allocatedSize)
      .add("created-us", p.createdUs)
      .str();
}

}  // namespace virtscratch::cli
