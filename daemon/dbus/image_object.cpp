#include "daemon/dbus/image_object.h"

#include <memory>
#include <vector>

#include "daemon/dbus/authorizer.h"
#include "daemon/dbus/bus_errors.h"
#include "daemon/dbus/object_paths.h"
#include "daemon/dbus/request_decoder.h"

namespace virtscratch::daemon::bus {

using org::virtscratch::Scratch1::Image_adaptor;

ImageObject::ImageObject(sdbus::IConnection& connection, Service& service, Authorizer& authorizer,
                         const ImageRecord& record)
    : AdaptorInterfaces(connection, imagePath(record.id)),
      service_(service),
      authorizer_(authorizer),
      record_(record) {
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

void ImageObject::update(const ImageRecord& record) {
  std::vector<std::string> changed;
  if (record.domainName != record_.domainName) changed.push_back("DomainName");
  if (record.spec.size != record_.spec.size) changed.push_back("VirtualSize");
  if (record.state != record_.state) changed.push_back("State");
  record_ = record;
  if (!changed.empty()) emitPropertiesChangedSignal(Image_adaptor::INTERFACE_NAME, changed);
}

void ImageObject::Release(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> options) {
  auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
  // Releasing removes this object before the reply is sent: the body holds the Service and id.
  authorizedCall(authorizer_, getObject(), Action::kRelease, "Image.Release", reply,
                 [&service = service_, id = record_.id, reply,
                  options = std::move(options)](const Caller& caller) -> Status {
                   VS_ASSIGN_OR_RETURN(ReleaseOptions release, decodeReleaseOptions(options));
                   service.releaseImage(caller, id, release, [reply](Status status) {
                     if (!status.ok()) return replyError("Image.Release", *reply, status);
                     replyValue("Image.Release", *reply);
                   });
                   return {};
                 });
}

std::string ImageObject::Id() { return record_.id; }
std::string ImageObject::Domain() { return record_.domainUuid; }
std::string ImageObject::DomainName() { return record_.domainName; }
std::string ImageObject::Path() { return record_.path; }
std::string ImageObject::Format() { return std::string(image::toString(record_.spec.format)); }
std::string ImageObject::Filesystem() {
  return std::string(image::toString(record_.spec.filesystem));
}
std::string ImageObject::Label() { return record_.spec.label; }
std::string ImageObject::FilesystemUuid() { return record_.filesystemUuid; }
std::string ImageObject::Target() { return record_.target; }
std::string ImageObject::Lifetime() { return std::string(vocabulary::toString(record_.lifetime)); }
uint64_t ImageObject::VirtualSize() { return record_.spec.size; }
uint64_t ImageObject::AllocatedSize() {
  return busCall("Image.AllocatedSize", [&] { return service_.allocatedBytes(record_.id); });
}
std::string ImageObject::State() { return std::string(daemon::toString(record_.state)); }
uint64_t ImageObject::Created() { return record_.createdUs; }

}  // namespace virtscratch::daemon::bus
