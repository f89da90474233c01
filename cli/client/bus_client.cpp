#include "cli/client/bus_client.h"

#include <poll.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "cli/json.h"
#include "daemon/dbus/object_paths.h"
#include "image/size.h"

namespace virtscratch::cli {

namespace bus = daemon::bus;
using org::virtscratch::Scratch1::Image_proxy;

ManagerProxy::ManagerProxy(sdbus::IConnection& connection)
    : ProxyInterfaces(connection, bus::kBusName, bus::kManagerPath) {
  // No registerProxy(): the commands want no signals from here, and registering would cost
  // an AddMatch round trip per signal. Method calls and properties work without it.
}
ManagerProxy::~ManagerProxy() = default;

ImageProxy::ImageProxy(sdbus::IConnection& connection, std::string path)
    : ProxyInterfaces(connection, bus::kBusName, std::move(path)) {}
ImageProxy::~ImageProxy() = default;

JobProxy::JobProxy(sdbus::IConnection& connection, std::string path)
    : ProxyInterfaces(connection, bus::kBusName, std::move(path)) {}
JobProxy::~JobProxy() = default;

Result<std::unique_ptr<sdbus::IConnection>> connectToBus(std::chrono::microseconds timeout) {
  try {
    auto connection = sdbus::createSystemBusConnection();
    connection->setMethodCallTimeout(static_cast<uint64_t>(timeout.count()));
    return connection;
  } catch (const sdbus::Error& e) {
    return failed("cannot connect to the system bus: " + e.getMessage());
  }
}

Status fromBusError(const sdbus::Error& error) {
  const std::string& name = error.getName();
  std::string_view prefix = bus::kErrorPrefix;
  if (name.starts_with(prefix)) {
    std::string_view kind = std::string_view(name).substr(prefix.size());
    for (ErrorCode code :
         {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
          ErrorCode::kNoSpace, ErrorCode::kQuotaExceeded, ErrorCode::kAccessDenied,
          ErrorCode::kBusy, ErrorCode::kCancelled, ErrorCode::kFailed}) {
      if (errorCodeName(code) == kind) return Status(code, error.getMessage());
    }
    return failed(error.getMessage());
  }
  if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
      name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
    return failed("virt-scratchd is not running (" + error.getMessage() +
                  "); start it with: systemctl start virt-scratchd");
  }
  if (name == "org.freedesktop.DBus.Error.AccessDenied") {
    return Status(ErrorCode::kAccessDenied,
                  "the bus policy denies this call: " + error.getMessage());
  }
  if (name == "org.freedesktop.DBus.Error.NoReply" &&
      error.getMessage().find("disconnected") != std::string::npos) {
    return failed(
        "virt-scratchd stopped before it answered (killed or restarted); see with "
        "'virt-scratch list' whether the request took effect, and try again");
  }
  if (name == "org.freedesktop.DBus.Error.NoReply" ||
      name == "org.freedesktop.DBus.Error.Timeout") {
    return failed("virt-scratchd did not answer in time: " + error.getMessage());
  }
  return failed(name + ": " + error.getMessage());
}

Status callBus(const std::function<Status()>& body) {
  try {
    return body();
  } catch (const sdbus::Error& e) {
    return fromBusError(e);
  }
}

Status requireUtf8(std::string_view what, std::string_view value) {
  size_t i = 0;
  while (i < value.size()) {
    auto c = static_cast<unsigned char>(value[i]);
    size_t length = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xe  ? 3
                    : (c >> 3) == 0x1e ? 4
                                       : 0;
    bool ok = length != 0 && i + length <= value.size() && c != 0;
    for (size_t k = 1; ok && k < length; ++k) {
      ok = (static_cast<unsigned char>(value[i + k]) & 0xc0) == 0x80;
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8 either.
    if (ok && length > 1) {
      uint32_t cp = c & (0x7f >> length);
      for (size_t k = 1; k < length; ++k) cp = (cp << 6) | (value[i + k] & 0x3f);
      static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
      ok = cp >= kMin[length] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
    }
    if (!ok) {
      return invalidArgument(std::string(what) + " is not valid UTF-8 (byte " + std::to_string(i) +
                             "); the bus carries only UTF-8 text");
    }
    i += length;
  }
  return {};
}

Result<std::string> imagePathFor(std::string_view idOrPath) {
  VS_RETURN_IF_ERROR(requireUtf8("the image", idOrPath));
  if (idOrPath.starts_with('/')) {
    if (bus::imageIdOf(idOrPath)) return std::string(idOrPath);
  } else if (bus::isValidImageId(idOrPath)) {
    return bus::imagePath(idOrPath);
  }
  return invalidArgument("'" + std::string(idOrPath) +
                         "' is not an image id (DOMAINUUIDHEX_TARGET, as 'virt-scratch list' "
                         "shows) nor an image object path");
}

std::map<std::string, PropertyMap> allImages(sdbus::IConnection& connection) {
  auto proxy = sdbus::createProxy(connection, bus::kBusName, bus::kManagerPath);
  std::map<sdbus::ObjectPath, std::map<std::string, PropertyMap>> objects;
  proxy->callMethod("GetManagedObjects")
      .onInterface("org.freedesktop.DBus.ObjectManager")
      .storeResultsTo(objects);
  std::map<std::string, PropertyMap> images;
  for (auto& [path, interfaces] : objects) {
    auto it = interfaces.find(Image_proxy::INTERFACE_NAME);
    if (it != interfaces.end()) images.emplace(path, std::move(it->second));
  }
  return images;
}

namespace {

template <typename T>
T prop(const PropertyMap& props, const std::string& name) {
  auto it = props.find(name);
  if (it == props.end() || !it->second.containsValueOfType<T>()) return T{};
  return it->second.get<T>();
}

std::string formatTime(uint64_t us) {
  time_t seconds = static_cast<time_t>(us / 1000000);
  struct tm tm {};
  char text[64] = "";
  if (gmtime_r(&seconds, &tm) != nullptr) strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

}  // namespace

std::string imageText(const PropertyMap& p) {
  std::string out;
  auto line = [&out](std::string_view key, const std::string& value) {
    out += key;
    out += ": ";
    out += value;
    out += '\n';
  };
  line("Id", prop<std::string>(p, "Id"));
  line("Path", prop<std::string>(p, "Path"));
  line("Domain", prop<std::string>(p, "Domain"));
  std::string name = prop<std::string>(p, "DomainName");
  if (!name.empty()) line("DomainName", name);
  line("Target", prop<std::string>(p, "Target"));
  line("State", prop<std::string>(p, "State"));
  line("Lifetime", prop<std::string>(p, "Lifetime"));
  line("Format", prop<std::string>(p, "Format"));
  line("Filesystem", prop<std::string>(p, "Filesystem"));
  std::string label = prop<std::string>(p, "Label");
  if (!label.empty()) line("Label", label);
  line("FilesystemUuid", prop<std::string>(p, "FilesystemUuid"));
  line("VirtualSize", image::formatSize(prop<uint64_t>(p, "VirtualSize")));
  line("AllocatedSize", image::formatSize(prop<uint64_t>(p, "AllocatedSize")));
  line("Created", formatTime(prop<uint64_t>(p, "Created")));
  return out;
}

std::string imageJson(const std::string& path, const PropertyMap& p) {
  return JsonObject()
      .add("id", prop<std::string>(p, "Id"))
      .add("object", path)
      .add("path", prop<std::string>(p, "Path"))
      .add("domain", prop<std::string>(p, "Domain"))
      .add("domain-name", prop<std::string>(p, "DomainName"))
      .add("target", prop<std::string>(p, "Target"))
      .add("state", prop<std::string>(p, "State"))
      .add("lifetime", prop<std::string>(p, "Lifetime"))
      .add("format", prop<std::string>(p, "Format"))
      .add("filesystem", prop<std::string>(p, "Filesystem"))
      .add("label", prop<std::string>(p, "Label"))
      .add("filesystem-uuid", prop<std::string>(p, "FilesystemUuid"))
      .add("virtual-size", prop<uint64_t>(p, "VirtualSize"))
      .add("allocated-size", prop<uint64_t>(p, "AllocatedSize"))
      .add("created-us", prop<uint64_t>(p, "Created"))
      .str();
}

void pumpUntil(sdbus::IConnection& connection, const std::function<bool()>& done,
               const std::function<void()>& tick) {
  while (true) {
    while (connection.processPendingRequest()) {
    }
    if (done()) return;
    tick();
    auto data = connection.getEventLoopPollData();
    int timeoutMs = 100;
    if (auto left = data.getRelativeTimeout()) {
      timeoutMs = static_cast<int>(std::min<int64_t>(timeoutMs, (left->count() + 999) / 1000));
    }
    struct pollfd fd = {data.fd, data.events, 0};
    ::poll(&fd, 1, timeoutMs);
  }
}

}  // namespace virtscratch::cli
