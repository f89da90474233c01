#include "daemon/dbus/image_object.h"

#include <memory>
#include <vector>

#include "daemon/dbus/authorizer.h"
#include "daemon/dbus/bus_errors.h"
#include "daemon/dbus/request_decoder.h"

namespace virtscratch::daemon::bus {

using org::virtscratch::Scratch1::Image_adaptor;

ImageObject::ImageObject(sdbus::IConnection& connection, Service& service, Authorizer& authorizer,
                         const ImageRecord& record)
    : AdaptorInterfaces(connection, imagePath(record.id)),
      service_(service),
      authorizer_(authorizer),
      id_(record.id),
      announced_(announcedOf(record)) {
  registerAdaptor();
  emitInterfacesAddedSignal({Image_adaptor::INTERFACE_NAME});
}

ImageObject::~ImageObject() {
  retire();
  unregisterAdaptor();
}

void ImageObject::retire() {
  if (retired_) return;
  retired_ = true;
  try {
    emitInterfacesRemovedSignal({Image_adaptor::INTERFACE_NAME});
  } catch (...) {
    (void)unexpectedError("InterfacesRemoved", std::current_exception());
  }
}

ImageObject::Announced ImageObject::announcedOf(const ImageRecord& record) {
  return {record.domainName, record.spec.size, record.state};
}

std::vector<std::string> ImageObject::changed() {
  const ImageRecord* record = service_.findImage(id_);
  if (record == nullptr) return {};
  Announced now = announcedOf(*record);
  std::vector<std::string> names;
  if (now.domainName != announced_.domainName) names.push_back("DomainName");
  if (now.virtualSize != announced_.virtualSize) names.push_back("VirtualSize");
  if (now.state != announced_.state) names.push_back("State");
  announced_ = std::move(now);
  if (!names.empty()) emitPropertiesChangedSignal(Image_adaptor::INTERFACE_NAME, names);
  return names;
}

Result<const ImageRecord*> ImageObject::record() const {
  const ImageRecord* record = service_.findImage(id_);
  if (record == nullptr) return Status(ErrorCode::kNotFound, "image " + id_ + " is gone");
  return record;
}

template <typename F>
auto ImageObject::property(std::string_view name, F&& get) const {
  return busCall(name, [&]() -> Result<decltype(get(std::declval<const ImageRecord&>()))> {
    VS_ASSIGN_OR_RETURN(const ImageRecord* r, record());
    return get(*r);
  });
}

void ImageObject::Release(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> options) {
  auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
  // Releasing removes this object before the reply is sent: the body holds the Service and id.
  authorizedCall(authorizer_, getObject(), Action::kRelease, "Image.Release", reply,
                 [&service = service_, id = id_, reply,
                  options = std::move(options)](const Caller& caller) -> Status {
                   VS_ASSIGN_OR_RETURN(ReleaseOptions release, decodeReleaseOptions(options));
                   service.releaseImage(caller, id, release, [reply](Status status) {
                     if (!status.ok()) return replyError("Image.Release", *reply, status);
                     replyValue("Image.Release", *reply);
                   });
                   return {};
                 });
}

void ImageObject::OpenKey(sdbus::Result<sdbus::UnixFd>&& result) {
  auto reply = std::make_shared<sdbus::Result<sdbus::UnixFd>>(std::move(result));
  // Root is never asked about (polkit is not consulted for uid 0); the Service refuses the rest.
  authorizedCall(authorizer_, getObject(), Action::kExport, "Image.OpenKey", reply,
                 [&service = service_, id = id_, reply](const Caller& caller) -> Status {
                   VS_ASSIGN_OR_RETURN(UniqueFd key, service.openKey(caller, id));
                   replyValue("Image.OpenKey", *reply,
                              sdbus::UnixFd(key.release(), sdbus::adopt_fd));
                   return {};
                 });
}

std::string ImageObject::Encryption() {
  return property("Image.Encryption", [](const ImageRecord& r) {
    return std::string(image::toString(r.spec.encryption));
  });
}

std::string ImageObject::Id() { return id_; }
std::string ImageObject::Domain() {
  return property("Image.Domain", [](const ImageRecord& r) { return r.domainUuid; });
}
std::string ImageObject::DomainName() {
  return property("Image.DomainName", [](const ImageRecord& r) { return r.domainName; });
}
std::string ImageObject::Path() {
  return property("Image.Path", [](const ImageRecord& r) { return r.path; });
}
std::string ImageObject::Format() {
  return property("Image.Format",
                  [](const ImageRecord& r) { return std::string(image::toString(r.spec.format)); });
}
std::string ImageObject::Filesystem() {
  return property("Image.Filesystem", [](const ImageRecord& r) {
    return std::string(image::toString(r.spec.filesystem));
  });
}
std::string ImageObject::Label() {
  return property("Image.Label", [](const ImageRecord& r) { return r.spec.label; });
}
std::string ImageObject::FilesystemUuid() {
  return property("Image.FilesystemUuid", [](const ImageRecord& r) { return r.filesystemUuid; });
}
std::string ImageObject::Target() {
  return property("Image.Target", [](const ImageRecord& r) { return r.target; });
}
std::string ImageObject::Lifetime() {
  return property("Image.Lifetime", [](const ImageRecord& r) {
    return std::string(vocabulary::toString(r.lifetime));
  });
}
uint64_t ImageObject::VirtualSize() {
  return property("Image.VirtualSize", [](const ImageRecord& r) { return r.spec.size; });
}
uint64_t ImageObject::AllocatedSize() {
  return busCall("Image.AllocatedSize", [&] { return service_.allocatedBytes(id_); });
}
std::string ImageObject::State() {
  return property("Image.State",
                  [](const ImageRecord& r) { return std::string(daemon::toString(r.state)); });
}
uint64_t ImageObject::Created() {
  return property("Image.Created", [](const ImageRecord& r) { return r.createdUs; });
}

}  // namespace virtscratch::daemon::bus
