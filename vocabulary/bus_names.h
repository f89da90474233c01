// Names on the bus, shared by the daemon (daemon/dbus) and the client library (client/): the bus
// name, the prefix of the error names, the manager's object path and the rules for the paths of
// images (/org/virtscratch/Scratch1/image/<id>) and jobs (.../job/<n>). Header-only, so that the
// client library installs it without a library of its own. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace virtscratch::vocabulary {

inline constexpr char kBusName[] = "org.virtscratch.Scratch1";
// Followed by the ErrorCode's name (errorCodeName): ...Error.InvalidArgument.
inline constexpr std::string_view kErrorPrefix = "org.virtscratch.Scratch1.Error.";
inline constexpr char kManagerPath[] = "/org/virtscratch/Scratch1";
inline constexpr char kManagerInterface[] = "org.virtscratch.Scratch1.Manager";
inline constexpr char kImageInterface[] = "org.virtscratch.Scratch1.Image";
inline constexpr char kJobInterface[] = "org.virtscratch.Scratch1.Job";
// Manager.InterfaceVersion: raised when a change would break a client written for the last one.
inline constexpr uint32_t kInterfaceVersion = 1;
inline constexpr std::string_view kImagePathPrefix = "/org/virtscratch/Scratch1/image/";
inline constexpr std::string_view kJobPathPrefix = "/org/virtscratch/Scratch1/job/";

// An image id ("<uuid hex>_<target>") is one object path element: [A-Za-z0-9_]+.
inline bool isValidImageId(std::string_view id) {
  if (id.empty()) return false;
  for (char c : id) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

inline std::string imagePath(std::string_view id) {
  return std::string(kImagePathPrefix) + std::string(id);
}

inline std::string jobPath(uint64_t jobId) {
  return std::string(kJobPathPrefix) + std::to_string(jobId);
}

// The image id in an image object path, or nothing when `path` is not one.
inline std::optional<std::string> imageIdOf(std::string_view path) {
  if (!path.starts_with(kImagePathPrefix)) return std::nullopt;
  std::string_view id = path.substr(kImagePathPrefix.size());
  if (!isValidImageId(id)) return std::nullopt;
  return std::string(id);
}

}  // namespace virtscratch::vocabulary
