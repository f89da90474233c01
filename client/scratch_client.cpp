#include "client/scratch_client.h"

#include <algorithm>
#include <tuple>

#include "client/client_impl.h"
#include "client/proxies.h"
#include "client/spec_variant.h"
#include "client/utf8.h"
#include "vocabulary/bus_names.h"

namespace virtscratch::client {
namespace {

template <typename T>
T prop(const PropertyMap& props, const std::string& name) {
  auto it = props.find(name);
  if (it == props.end() || !it->second.containsValueOfType<T>()) return T{};
  return it->second.get<T>();
}

ImageInfo imageInfo(std::string object, const PropertyMap& p) {
  ImageInfo info;
  info.object = std::move(object);
  info.id = prop<std::string>(p, "Id");
  info.path = prop<std::string>(p, "Path");
  info.domain = prop<std::string>(p, "Domain");
  info.domainName = prop<std::string>(p, "DomainName");
  info.target = prop<std::string>(p, "Target");
  info.state = prop<std::string>(p, "State");
  info.lifetime = prop<std::string>(p, "Lifetime");
  info.encryption = prop<std::string>(p, "Encryption");
  info.format = prop<std::string>(p, "Format");
  info.filesystem = prop<std::string>(p, "Filesystem");
  info.label = prop<std::string>(p, "Label");
  info.filesystemUuid = prop<std::string>(p, "FilesystemUuid");
  info.virtualSize = prop<uint64_t>(p, "VirtualSize");
  info.allocatedSize = prop<uint64_t>(p, "AllocatedSize");
  info.createdUs = prop<uint64_t>(p, "Created");
  return info;
}

PropertyMap getAll(sdbus::IConnection& connection, const std::string& path,
                   const std::string& interface) {
  auto proxy = sdbus::createProxy(connection, vocabulary::kBusName, path);
  PropertyMap props;
  proxy->callMethod("GetAll")
      .onInterface("org.freedesktop.DBus.Properties")
      .withArguments(interface)
      .storeResultsTo(props);
  return props;
}

}  // namespace

Status ScratchClient::Impl::armTimeout() {
  auto timeout = options.callTimeout;
  if (options.deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(*options.deadline - Clock::now());
    if (left.count() <= 0) return failed("virt-scratchd did not answer before the deadline");
    timeout = std::min(timeout, left);
  }
  connection->setMethodCallTimeout(static_cast<uint64_t>(timeout.count()));
  return {};
}

ScratchClient::ScratchClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ScratchClient::~ScratchClient() = default;

Result<std::unique_ptr<ScratchClient>> ScratchClient::connect(const ConnectOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  try {
    impl->connection = sdbus::createSystemBusConnection();
  } catch (const sdbus::Error& e) {
    return failed("cannot connect to the system bus: " + e.getMessage());
  }
  return std::unique_ptr<ScratchClient>(new ScratchClient(std::move(impl)));
}

Result<Allocated> ScratchClient::allocate(const std::string& domain,
                                          const vocabulary::AllocateSpec& spec) {
  return allocate(domain, vocabulary::toSpecMap(spec));
}

Result<Allocated> ScratchClient::allocate(const std::string& domain,
                                          const vocabulary::SpecMap& spec) {
  VS_RETURN_IF_ERROR(requireUtf8("the domain", domain));
  for (const auto& [key, value] : spec) {
    VS_RETURN_IF_ERROR(requireUtf8("a spec key", key));
    if (const auto* text = std::get_if<std::string>(&value)) {
      VS_RETURN_IF_ERROR(requireUtf8("spec key '" + key + "'", *text));
    }
  }
  return impl_->call([&]() -> Result<Allocated> {
    ManagerProxy manager(*impl_->connection);
    auto [object, path] = manager.Allocate(domain, toVariantMap(spec));
    return Allocated{std::move(object), std::move(path)};
  });
}

Result<UniqueFd> ScratchClient::openKey(std::string_view idOrPath) {
  VS_ASSIGN_OR_RETURN(std::string path, imagePathFor(idOrPath));
  return impl_->call([&]() -> Result<UniqueFd> {
    try {
      ImageProxy image(*impl_->connection, path);
      sdbus::UnixFd key = image.OpenKey();
      return UniqueFd(key.release());
    } catch (const sdbus::Error& e) {
      if (e.getName() == "org.freedesktop.DBus.Error.UnknownObject") {
        return Status(ErrorCode::kNotFound, "no image '" + std::string(idOrPath) + "'");
      }
      throw;
    }
  });
}

Status ScratchClient::releaseImage(std::string_view idOrPath, bool force) {
  VS_ASSIGN_OR_RETURN(std::string path, imagePathFor(idOrPath));
  return impl_->call([&]() -> Status {
    try {
      ImageProxy image(*impl_->connection, path);
      PropertyMap options;
      if (force) options["force"] = sdbus::Variant(true);
      image.Release(options);
    } catch (const sdbus::Error& e) {
      // No object there: the image was never made or is gone already.
      if (e.getName() == "org.freedesktop.DBus.Error.UnknownObject" ||
          e.getName() == "org.freedesktop.DBus.Error.UnknownMethod") {
        return Status(ErrorCode::kNotFound, "no image '" + std::string(idOrPath) + "'");
      }
      throw;
    }
    return {};
  });
}

Result<uint32_t> ScratchClient::releaseDomain(const std::string& domain,
                                              const ReleaseDomainOptions& options) {
  VS_RETURN_IF_ERROR(requireUtf8("the domain", domain));
  return impl_->call([&]() -> Result<uint32_t> {
    PropertyMap map;
    if (options.force) map["force"] = sdbus::Variant(true);
    if (!options.lifetimes.empty()) {
      std::vector<std::string> names;
      for (vocabulary::Lifetime lifetime : options.lifetimes) {
        names.emplace_back(vocabulary::toString(lifetime));
      }
      map["lifetime"] = sdbus::Variant(names);
    }
    if (!options.origin.empty()) map["origin"] = sdbus::Variant(options.origin);
    ManagerProxy manager(*impl_->connection);
    return manager.ReleaseDomain(domain, map);
  });
}

Result<std::vector<ImageInfo>> ScratchClient::listImages() {
  return impl_->call([&]() -> Result<std::vector<ImageInfo>> {
    auto proxy =
        sdbus::createProxy(*impl_->connection, vocabulary::kBusName, vocabulary::kManagerPath);
    std::map<sdbus::ObjectPath, std::map<std::string, PropertyMap>> objects;
    proxy->callMethod("GetManagedObjects")
        .onInterface("org.freedesktop.DBus.ObjectManager")
        .storeResultsTo(objects);
    std::vector<ImageInfo> images;
    for (const auto& [path, interfaces] : objects) {
      auto it = interfaces.find(vocabulary::kImageInterface);
      if (it != interfaces.end()) images.push_back(imageInfo(path, it->second));
    }
    return images;
  });
}

Result<ImageInfo> ScratchClient::image(std::string_view idOrPath) {
  VS_ASSIGN_OR_RETURN(std::string path, imagePathFor(idOrPath));
  auto info = impl_->call([&]() -> Result<ImageInfo> {
    return imageInfo(path, getAll(*impl_->connection, path, vocabulary::kImageInterface));
  });
  if (!info.ok() && info.status().code() == ErrorCode::kNotFound) {
    return Status(ErrorCode::kNotFound, "no image '" + std::string(idOrPath) + "'");
  }
  return info;
}

Result<PoolInfo> ScratchClient::status() {
  return impl_->call([&]() -> Result<PoolInfo> {
    PropertyMap p =
        getAll(*impl_->connection, vocabulary::kManagerPath, vocabulary::kManagerInterface);
    PoolInfo info;
    info.interfaceVersion = prop<uint32_t>(p, "InterfaceVersion");
    info.version = prop<std::string>(p, "Version");
    info.path = prop<std::string>(p, "PoolPath");
    info.quota = prop<uint64_t>(p, "PoolQuota");
    info.used = prop<uint64_t>(p, "PoolUsed");
    info.free = prop<uint64_t>(p, "PoolFree");
    info.imageCount = prop<uint32_t>(p, "ImageCount");
    info.templateBytes = prop<uint64_t>(p, "PoolTemplateBytes");
    info.defaultEncryption = prop<std::string>(p, "DefaultEncryption");
    info.defaultDiscard = prop<std::string>(p, "DefaultDiscard");
    info.allocated = prop<uint64_t>(p, "PoolAllocated");
    info.quotaAllocated = prop<uint64_t>(p, "PoolQuotaAllocated");
    info.highWater = prop<uint64_t>(p, "PoolHighWater");
    info.spaceState = prop<std::string>(p, "SpaceState");
    return info;
  });
}

Result<std::string> ScratchClient::metrics() {
  return impl_->call(
      [&]() -> Result<std::string> { return ManagerProxy(*impl_->connection).Metrics(); });
}

Result<uint32_t> ScratchClient::checkInterfaceVersion() {
  VS_ASSIGN_OR_RETURN(uint32_t version, impl_->call([&]() -> Result<uint32_t> {
    return ManagerProxy(*impl_->connection).InterfaceVersion();
  }));
  if (version > kInterfaceVersion) {
    return failed("virt-scratchd speaks interface version " + std::to_string(version) +
                  ", newer than version " + std::to_string(kInterfaceVersion) +
                  " this client knows; update the client");
  }
  return version;
}

Result<std::string> imagePathFor(std::string_view idOrPath) {
  VS_RETURN_IF_ERROR(requireUtf8("the image", idOrPath));
  if (idOrPath.starts_with('/')) {
    if (vocabulary::imageIdOf(idOrPath)) return std::string(idOrPath);
  } else if (vocabulary::isValidImageId(idOrPath)) {
    return vocabulary::imagePath(idOrPath);
  }
  return invalidArgument("'" + std::string(idOrPath) +
                         "' is not an image id (DOMAINUUIDHEX_TARGET, as 'virt-scratch list' "
                         "shows) nor an image object path");
}

}  // namespace virtscratch::client
