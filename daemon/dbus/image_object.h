// The bus face of one image: /org/virtscratch/Scratch1/image/<id>, interface
// org.virtscratch.Scratch1.Image. A view over the Service's record: it keeps the image's id and
// reads every property from service.findImage(id), as systemd-machined serves machines from its
// own tables; it keeps only what it last announced of the properties that change, to send
// PropertiesChanged for those that did. Announces itself with InterfacesAdded and its end with
// InterfacesRemoved. Loop thread only.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <string>
#include <vector>

#include "daemon/image_record.h"
#include "daemon/service.h"
#include "scratch1_adaptor.h"

namespace virtscratch::daemon::bus {

class Authorizer;

class ImageObject final
    : public sdbus::AdaptorInterfaces<org::virtscratch::Scratch1::Image_adaptor,
                                      sdbus::ManagedObject_adaptor, sdbus::Properties_adaptor> {
 public:
  // The Service must hold the image `record` describes.
  ImageObject(sdbus::IConnection& connection, Service& service, Authorizer& authorizer,
              const ImageRecord& record);
  ~ImageObject();
  ImageObject(const ImageObject&) = delete;
  ImageObject& operator=(const ImageObject&) = delete;

  // Announces the end (InterfacesRemoved) now.
  void retire();

  // The Service's record changed: sends PropertiesChanged for what differs from what was last
  // announced, and returns those properties' names.
  std::vector<std::string> changed();

 private:
  // What of the record can change after the image is made.
  struct Announced {
    std::string domainName;
    uint64_t virtualSize = 0;
    ImageState state = ImageState::kReady;
  };
  static Announced announcedOf(const ImageRecord& record);
  // The Service's record; NotFound once the image is gone.
  Result<const ImageRecord*> record() const;
  template <typename F>
  auto property(std::string_view name, F&& get) const;

  void Release(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> options) override;
  void OpenKey(sdbus::Result<sdbus::UnixFd>&& result) override;
  std::string Encryption() override;
  std::string Id() override;
  std::string Domain() override;
  std::string DomainName() override;
  std::string Path() override;
  std::string Format() override;
  std::string Filesystem() override;
  std::string Label() override;
  std::string FilesystemUuid() override;
  std::string Target() override;
  std::string Lifetime() override;
  uint64_t VirtualSize() override;
  uint64_t AllocatedSize() override;
  std::string State() override;
  uint64_t Created() override;

  Service& service_;
  Authorizer& authorizer_;
  const std::string id_;
  bool retired_ = false;
  Announced announced_;
};

}  // namespace virtscratch::daemon::bus
