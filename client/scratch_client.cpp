#include "client/scratch_client.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "client/client_impl.h"
#include "client/message_reader.h"
#include "client/message_writer.h"
#include "client/utf8.h"
#include "vocabulary/bus_names.h"

namespace virtscratch::client {
namespace {

constexpr BusMethod kGetAll{"org.freedesktop.DBus.Properties", "GetAll", "s", "a{sv}"};
constexpr BusMethod kGet{"org.freedesktop.DBus.Properties", "Get", "ss", "v"};
constexpr BusMethod kGetManagedObjects{"org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                       "", "a{oa{sa{sv}}}"};

ImageInfo imageInfo(std::string object, const PropertyMap& p) {
  ImageInfo info;
  info.object = std::move(object);
  info.id = propertyOr<std::string>(p, "Id");
  info.path = propertyOr<std::string>(p, "Path");
  info.domain = propertyOr<std::string>(p, "Domain");
  info.domainName = propertyOr<std::string>(p, "DomainName");
  info.target = propertyOr<std::string>(p, "Target");
  info.state = propertyOr<std::string>(p, "State");
  info.lifetime = propertyOr<std::string>(p, "Lifetime");
  info.encryption = propertyOr<std::string>(p, "Encryption");
  info.format = propertyOr<std::string>(p, "Format");
  info.filesystem = propertyOr<std::string>(p, "Filesystem");
  info.label = propertyOr<std::string>(p, "Label");
  info.filesystemUuid = propertyOr<std::string>(p, "FilesystemUuid");
  info.virtualSize = propertyOr<uint64_t>(p, "VirtualSize");
  info.allocatedSize = propertyOr<uint64_t>(p, "AllocatedSize");
  info.createdUs = propertyOr<uint64_t>(p, "Created");
  return info;
}

Status appendString(sd_bus_message* message, char type, const std::string& value) {
  int r = sd_bus_message_append_basic(message, type, value.c_str());
  if (r < 0) return busFailure("writing the call's arguments", r);
  return {};
}

Status noImage(std::string_view idOrPath) {
  return Status(ErrorCode::kNotFound, "no image '" + std::string(idOrPath) + "'");
}

// No object there: the image was never made or is gone already.
bool noSuchObject(const Status& status) {
  return status.code() == ErrorCode::kNotFound && status.message().starts_with("no such object");
}

}  // namespace

Result<uint64_t> ScratchClient::Impl::timeoutUs() const {
  auto timeout = options.callTimeout;
  if (options.deadline) {
    auto left =
        std::chrono::duration_cast<std::chrono::microseconds>(*options.deadline - Clock::now());
    if (left.count() <= 0) return failed("virt-scratchd did not answer before the deadline");
    timeout = std::min(timeout, left);
  }
  return static_cast<uint64_t>(timeout.count());
}

Result<MessagePtr> ScratchClient::Impl::call(const BusMethod& method, std::string_view path,
                                             const std::function<Status(sd_bus_message*)>& append) {
  VS_ASSIGN_OR_RETURN(uint64_t timeout, timeoutUs());
  VS_ASSIGN_OR_RETURN(MessagePtr message, bus.newCall(method, path));
  if (append) VS_RETURN_IF_ERROR(append(message.get()));
  return bus.call(std::move(message), method.out, timeout);
}

ScratchClient::ScratchClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ScratchClient::~ScratchClient() = default;

Result<std::unique_ptr<ScratchClient>> ScratchClient::connect(const ConnectOptions& options) {
  if (options.callTimeout.count() <= 0) {
    return invalidArgument("the call timeout must be more than zero, not " +
                           std::to_string(options.callTimeout.count()) + " us");
  }
  VS_ASSIGN_OR_RETURN(BusConnection bus, BusConnection::openSystem());
  auto impl = std::unique_ptr<Impl>(new Impl{std::move(bus), options});
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
  VS_ASSIGN_OR_RETURN(MessagePtr reply,
                      impl_->call(kAllocate, vocabulary::kManagerPath, [&](sd_bus_message* m) {
                        VS_RETURN_IF_ERROR(appendString(m, 's', domain));
                        return appendOptionMap(m, toOptionMap(spec));
                      }));
  Allocated allocated;
  VS_ASSIGN_OR_RETURN(allocated.object, readString(reply.get(), 'o'));
  VS_ASSIGN_OR_RETURN(allocated.path, readString(reply.get(), 's'));
  return allocated;
}

Result<UniqueFd> ScratchClient::openKey(std::string_view idOrPath) {
  VS_ASSIGN_OR_RETURN(std::string path, imagePathFor(idOrPath));
  auto reply = impl_->call(kOpenKey, path);
  if (!reply.ok()) {
    if (noSuchObject(reply.status())) {
      return noImage(idOrPath);
    }
    return reply.status();
  }
  int fd = -1;
  int r = sd_bus_message_read_basic(reply->get(), SD_BUS_TYPE_UNIX_FD, &fd);
  if (r < 0) return busFailure("reading the key's descriptor", r);
  // The message owns the descriptor it carries.
  UniqueFd key(fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!key) return errnoStatus("cannot keep the key's descriptor", errno);
  return key;
}

Status ScratchClient::releaseImage(std::string_view idOrPath, bool force) {
  VS_ASSIGN_OR_RETURN(std::string path, imagePathFor(idOrPath));
  OptionMap options;
  if (force) options["force"] = true;
  auto reply =
      impl_->call(kRelease, path, [&](sd_bus_message* m) { return appendOptionMap(m, options); });
  if (!reply.ok()) {
    if (noSuchObject(reply.status()) ||
        reply.status().message().starts_with("org.freedesktop.DBus.Error.UnknownMethod")) {
      return noImage(idOrPath);
    }
    return reply.status();
  }
  return {};
}

Result<uint32_t> ScratchClient::releaseDomain(const std::string& domain,
                                              const ReleaseDomainOptions& options) {
  VS_RETURN_IF_ERROR(requireUtf8("the domain", domain));
  OptionMap map;
  if (options.force) map["force"] = true;
  if (!options.lifetimes.empty()) {
    std::vector<std::string> names;
    for (vocabulary::Lifetime lifetime : options.lifetimes) {
      names.emplace_back(vocabulary::toString(lifetime));
    }
    map["lifetime"] = std::move(names);
  }
  if (!options.origin.empty()) map["origin"] = options.origin;
  VS_ASSIGN_OR_RETURN(MessagePtr reply,
                      impl_->call(kReleaseDomain, vocabulary::kManagerPath, [&](sd_bus_message* m) {
                        VS_RETURN_IF_ERROR(appendString(m, 's', domain));
                        return appendOptionMap(m, map);
                      }));
  uint32_t released = 0;
  int r = sd_bus_message_read_basic(reply.get(), SD_BUS_TYPE_UINT32, &released);
  if (r < 0) return busFailure("reading ReleaseDomain's answer", r);
  return released;
}

Result<std::vector<ImageInfo>> ScratchClient::listImages() {
  VS_ASSIGN_OR_RETURN(MessagePtr reply, impl_->call(kGetManagedObjects, vocabulary::kManagerPath));
  VS_ASSIGN_OR_RETURN(ObjectTree objects, readObjectTree(reply.get()));
  std::vector<ImageInfo> images;
  for (const auto& [path, interfaces] : objects) {
    auto it = interfaces.find(vocabulary::kImageInterface);
    if (it != interfaces.end()) images.push_back(imageInfo(path, it->second));
  }
  return images;
}

Result<PropertyMap> ScratchClient::Impl::properties(std::string_view path,
                                                    const std::string& interface) {
  VS_ASSIGN_OR_RETURN(MessagePtr reply, call(kGetAll, path, [&](sd_bus_message* m) {
                        return appendString(m, 's', interface);
                      }));
  return readPropertyMap(reply.get());
}

Status ScratchClient::Impl::property(std::string_view path, const std::string& interface,
                                     const std::string& name, PropertyValue& out,
                                     std::string* answeredBy) {
  VS_ASSIGN_OR_RETURN(MessagePtr reply, call(kGet, path, [&](sd_bus_message* m) {
                        VS_RETURN_IF_ERROR(appendString(m, 's', interface));
                        return appendString(m, 's', name);
                      }));
  if (answeredBy != nullptr) *answeredBy = senderOf(reply.get());
  return readVariant(reply.get(), out);
}

Result<ImageInfo> ScratchClient::image(std::string_view idOrPath) {
  VS_ASSIGN_OR_RETURN(std::string path, imagePathFor(idOrPath));
  auto props = impl_->properties(path, vocabulary::kImageInterface);
  if (!props.ok()) {
    if (props.status().code() == ErrorCode::kNotFound) {
      return noImage(idOrPath);
    }
    return props.status();
  }
  return imageInfo(path, *props);
}

Result<PoolInfo> ScratchClient::status() {
  VS_ASSIGN_OR_RETURN(PropertyMap p,
                      impl_->properties(vocabulary::kManagerPath, vocabulary::kManagerInterface));
  PoolInfo info;
  info.interfaceVersion = propertyOr<uint32_t>(p, "InterfaceVersion");
  info.version = propertyOr<std::string>(p, "Version");
  info.path = propertyOr<std::string>(p, "PoolPath");
  info.quota = propertyOr<uint64_t>(p, "PoolQuota");
  info.used = propertyOr<uint64_t>(p, "PoolUsed");
  info.free = propertyOr<uint64_t>(p, "PoolFree");
  info.imageCount = propertyOr<uint32_t>(p, "ImageCount");
  info.templateBytes = propertyOr<uint64_t>(p, "PoolTemplateBytes");
  info.defaultEncryption = propertyOr<std::string>(p, "DefaultEncryption");
  info.defaultDiscard = propertyOr<std::string>(p, "DefaultDiscard");
  info.allocated = propertyOr<uint64_t>(p, "PoolAllocated");
  info.quotaAllocated = propertyOr<uint64_t>(p, "PoolQuotaAllocated");
  info.highWater = propertyOr<uint64_t>(p, "PoolHighWater");
  info.spaceState = propertyOr<std::string>(p, "SpaceState");
  return info;
}

Result<std::string> ScratchClient::metrics() {
  VS_ASSIGN_OR_RETURN(MessagePtr reply, impl_->call(kMetrics, vocabulary::kManagerPath));
  return readString(reply.get(), 's');
}

Result<uint32_t> ScratchClient::checkInterfaceVersion() {
  PropertyValue value;
  VS_RETURN_IF_ERROR(impl_->property(vocabulary::kManagerPath, vocabulary::kManagerInterface,
                                     "InterfaceVersion", value));
  const uint32_t* version = std::get_if<uint32_t>(&value);
  if (version == nullptr) {
    return failed("virt-scratchd's InterfaceVersion is not a uint32: is it of another version?");
  }
  if (*version > kInterfaceVersion) {
    return failed("virt-scratchd speaks interface version " + std::to_string(*version) +
                  ", newer than version " + std::to_string(kInterfaceVersion) +
                  " this client knows; update the client");
  }
  return *version;
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
