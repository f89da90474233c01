#include "plugin/hook_bus.h"

#include <vector>

#include "daemon/dbus/object_paths.h"
#include "scratch1_proxy.h"

namespace virtscratch::hook {
namespace {

namespace bus = daemon::bus;
using PropertyMap = std::map<std::string, sdbus::Variant>;
using org::virtscratch::Scratch1::Image_proxy;
using org::virtscratch::Scratch1::Manager_proxy;

class ManagerProxy final : public sdbus::ProxyInterfaces<Manager_proxy> {
 public:
  // No registerProxy(): signals are not wanted, and each match would cost a round trip.
  explicit ManagerProxy(sdbus::IConnection& connection)
      : ProxyInterfaces(connection, bus::kBusName, bus::kManagerPath) {}
  ~ManagerProxy() = default;

 private:
  void onImageAdded(const sdbus::ObjectPath&, const std::string&) override {}
  void onImageRemoved(const sdbus::ObjectPath&, const std::string&, const std::string&) override {}
};

class ImageProxy final : public sdbus::ProxyInterfaces<Image_proxy> {
 public:
  ImageProxy(sdbus::IConnection& connection, std::string path)
      : ProxyInterfaces(connection, bus::kBusName, std::move(path)) {}
  ~ImageProxy() = default;
};

// A bus error as one sentence a libvirt user can act on.
Status fromBusError(const sdbus::Error& error) {
  const std::string& name = error.getName();
  std::string_view prefix = bus::kErrorPrefix;
  if (name.starts_with(prefix)) {
    std::string_view kind = std::string_view(name).substr(prefix.size());
    ErrorCode code = kind == "InvalidArgument" ? ErrorCode::kInvalidArgument
                     : kind == "NotFound"      ? ErrorCode::kNotFound
                     : kind == "Busy"          ? ErrorCode::kBusy
                                               : ErrorCode::kFailed;
    return Status(code, "virt-scratchd: " + error.getMessage());
  }
  if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
      name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
    return failed("virt-scratchd is not running (" + error.getMessage() + ")");
  }
  if (name == "org.freedesktop.DBus.Error.NoReply" &&
      error.getMessage().find("disconnected") != std::string::npos) {
    return failed("virt-scratchd stopped before it answered (killed or restarted)");
  }
  if (name == "org.freedesktop.DBus.Error.NoReply" ||
      name == "org.freedesktop.DBus.Error.Timeout") {
    return failed("virt-scratchd did not answer within the hook's timeout ([hook] timeout)");
  }
  if (name == "org.freedesktop.DBus.Error.AccessDenied") {
    return failed("the bus policy denies the call: " + error.getMessage());
  }
  return failed(name + ": " + error.getMessage());
}

}  // namespace

std::map<std::string, sdbus::Variant> allocateSpec(const vocabulary::ScratchDisk& disk,
                                                   uint32_t vcpus) {
  std::map<std::string, sdbus::Variant> spec;
  if (disk.size != 0) {
    spec["size"] = sdbus::Variant(disk.size);
  } else {
    spec["size-per-vcpu"] = sdbus::Variant(disk.sizePerVcpu);
    spec["vcpus"] = sdbus::Variant(vcpus);
  }
  spec["format"] = sdbus::Variant(std::string(image::toString(disk.format)));
  spec["filesystem"] = sdbus::Variant(std::string(image::toString(disk.filesystem)));
  if (!disk.label.empty()) spec["label"] = sdbus::Variant(disk.label);
  spec["partition"] = sdbus::Variant(std::string(image::toString(disk.partition)));
  spec["target"] = sdbus::Variant(disk.target);
  spec["lifetime"] = sdbus::Variant(std::string(vocabulary::toString(disk.lifetime)));
  return spec;
}

DaemonClient::DaemonClient(std::unique_ptr<sdbus::IConnection> connection,
                           Clock::time_point deadline)
    : connection_(std::move(connection)), deadline_(deadline) {}

DaemonClient::~DaemonClient() = default;

Result<std::unique_ptr<DaemonClient>> DaemonClient::connect(Clock::time_point deadline) {
  try {
    auto connection = sdbus::createSystemBusConnection();
    std::unique_ptr<DaemonClient> client(new DaemonClient(std::move(connection), deadline));
    return client;
  } catch (const sdbus::Error& e) {
    return failed("cannot connect to the system bus: " + e.getMessage());
  }
}

Status DaemonClient::armTimeout() {
  auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline_ - Clock::now());
  if (left.count() <= 0) {
    return failed("virt-scratchd did not answer within the hook's timeout ([hook] timeout)");
  }
  connection_->setMethodCallTimeout(static_cast<uint64_t>(left.count()));
  return {};
}

Result<std::string> DaemonClient::allocate(const std::string& domainUuid,
                                           const vocabulary::ScratchDisk& disk, uint32_t vcpus) {
  try {
    VS_RETURN_IF_ERROR(armTimeout());
    ManagerProxy manager(*connection_);
    sdbus::ObjectPath path = manager.Allocate(domainUuid, allocateSpec(disk, vcpus));
    VS_RETURN_IF_ERROR(armTimeout());
    ImageProxy image(*connection_, path);
    return image.Path();
  } catch (const sdbus::Error& e) {
    return fromBusError(e);
  }
}

Result<uint32_t> DaemonClient::releaseBootImages(const std::string& domainUuid) {
  uint32_t released = 0;
  try {
    // One call for every image's properties, rather than ListImages and a Get per image.
    VS_RETURN_IF_ERROR(armTimeout());
    auto proxy = sdbus::createProxy(*connection_, bus::kBusName, bus::kManagerPath);
    std::map<sdbus::ObjectPath, std::map<std::string, PropertyMap>> objects;
    proxy->callMethod("GetManagedObjects")
        .onInterface("org.freedesktop.DBus.ObjectManager")
        .storeResultsTo(objects);
    for (auto& [path, interfaces] : objects) {
      auto it = interfaces.find(Image_proxy::INTERFACE_NAME);
      if (it == interfaces.end()) continue;
      PropertyMap& props = it->second;
      auto text = [&props](const std::string& key) {
        auto p = props.find(key);
        return p != props.end() && p->second.containsValueOfType<std::string>()
                   ? p->second.get<std::string>()
                   : std::string();
      };
      if (text("Domain") != domainUuid || text("Lifetime") != "boot") continue;
      VS_RETURN_IF_ERROR(armTimeout());
      try {
        // force: at `release end` the domain has stopped, and asking libvirt whether it runs
        // would wait for the domain's lock, which libvirtd holds while this hook runs.
        ImageProxy(*connection_, path).Release({{"force", sdbus::Variant(true)}});
        ++released;
      } catch (const sdbus::Error& e) {
        Status status = fromBusError(e);
        if (status.code() == ErrorCode::kNotFound ||
            e.getName() == "org.freedesktop.DBus.Error.UnknownObject" ||
            e.getName() == "org.freedesktop.DBus.Error.UnknownMethod") {
          continue;  // released meanwhile
        }
        return status.withContext("cannot release " + text("Path"));
      }
    }
  } catch (const sdbus::Error& e) {
    return fromBusError(e);
  }
  return released;
}

}  // namespace virtscratch::hook
