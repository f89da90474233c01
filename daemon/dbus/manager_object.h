// The bus face of the pool: /org/virtscratch/Scratch1, interface org.virtscratch.Scratch1.Manager,
// plus the standard ObjectManager that reports every image and job object. The methods that
// change something are asynchronous server methods: the caller is authorized (Authorizer) and
// the call answered later from the loop, so neither polkit nor a slow allocation holds up other
// callers. Loop thread only.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <string>
#include <vector>

#include "daemon/service.h"
#include "scratch1_adaptor.h"

namespace virtscratch::daemon::bus {

class Authorizer;
class ObjectTree;

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::virtscratch::Scratch1::Manager_adaptor,
                                      sdbus::ObjectManager_adaptor, sdbus::Properties_adaptor> {
 public:
  ManagerObject(sdbus::IConnection& connection, Service& service, ObjectTree& tree,
                Authorizer& authorizer, std::string version);
  ~ManagerObject();
  ManagerObject(const ManagerObject&) = delete;
  ManagerObject& operator=(const ManagerObject&) = delete;

  // The image count and used size changed.
  void poolChanged();
  // A refresh found the pool in another SpaceState: PropertiesChanged, and SpaceLow when worse.
  void spaceChanged(daemon::SpaceState state, uint64_t allocated, uint64_t available);

 private:
  using AllocateReply = sdbus::Result<sdbus::ObjectPath, std::string>;
  void Allocate(AllocateReply&& result, std::string domain,
                std::map<std::string, sdbus::Variant> spec) override;
  void allocated(const AllocateReply& reply, Result<ImageRecord> made);
  void ReleaseDomain(sdbus::Result<uint32_t>&& result, std::string domain,
                     std::map<std::string, sdbus::Variant> options) override;
  std::vector<sdbus::ObjectPath> ListImages() override;
  std::string Metrics() override;
  void Export(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::ObjectPath image,
              sdbus::UnixFd output, std::map<std::string, sdbus::Variant> options) override;

  uint32_t InterfaceVersion() override;
  std::string Version() override;
  std::string PoolPath() override;
  std::string DefaultEncryption() override;
  std::string DefaultDiscard() override;
  uint64_t PoolQuota() override;
  uint64_t PoolUsed() override;
  uint64_t PoolFree() override;
  uint32_t ImageCount() override;
  uint64_t PoolTemplateBytes() override;
  uint64_t PoolAllocated() override;
  uint64_t PoolQuotaAllocated() override;
  uint64_t PoolHighWater() override;
  std::string SpaceState() override;

  Service& service_;
  ObjectTree& tree_;
  Authorizer& authorizer_;
  std::string version_;
  sdbus::Slot callerGone_;  // the NameOwnerChanged match
};

}  // namespace virtscratch::daemon::bus
