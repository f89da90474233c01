// The bus face of one image: /org/virtscratch/Scratch1/image/<id>, interface
// org.virtscratch.Scratch1.Image. Keeps a copy of the image's record (the Service may drop its
// own before the object goes), announces itself with InterfacesAdded and its end with
// InterfacesRemoved. Loop thread only.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <string>

#include "daemon/image_record.h"
#include "daemon/service.h"
#include "scratch1_adaptor.h"

namespace virtscratch::daemon::bus {

class Authorizer;

class ImageObject final
    : public sdbus::AdaptorInterfaces<org::virtscratch::Scratch1::Image_adaptor,
                                      sdbus::ManagedObject_adaptor, sdbus::Properties_adaptor> {
 public:
  ImageObject(sdbus::IConnection& connection, Service& service, Authorizer& authorizer,
              const ImageRecord& record);
  ~ImageObject();
  ImageObject(const ImageObject&) = delete;
  ImageObject& operator=(const ImageObject&) = delete;

  // Announces the end (InterfacesRemoved) now.
  void retire();

  const ImageRecord& record() const { return record_; }
  // Takes the new record and sends PropertiesChanged for what changed.
  void update(const ImageRecord& record);

 private:
  void Release(sdbus::Result<>&& result, std::map<std::string, sdbus::Variant> options) override;
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
  bool retired_ = false;
  ImageRecord record_;
};

}  // namespace virtscratch::daemon::bus
