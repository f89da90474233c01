// The generated proxies (scratch1_proxy.h) as the client library uses them: no registerProxy(),
// so no signal match costs a round trip (the export adds the matches it needs itself), and the
// signal handlers do nothing. Internal to the client library; same thread rules as ScratchClient.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <string>
#include <vector>

#include "scratch1_proxy.h"
#include "vocabulary/bus_names.h"

namespace virtscratch::client {

using PropertyMap = std::map<std::string, sdbus::Variant>;

class ManagerProxy final
    : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Manager_proxy> {
 public:
  explicit ManagerProxy(sdbus::IConnection& connection)
      : ProxyInterfaces(connection, vocabulary::kBusName, vocabulary::kManagerPath) {}
  ~ManagerProxy() = default;

 private:
  void onImageAdded(const sdbus::ObjectPath&, const std::string&) override {}
  void onImageRemoved(const sdbus::ObjectPath&, const std::string&, const std::string&) override {}
  void onSpaceLow(const std::string&, const uint64_t&, const uint64_t&) override {}
};

class ImageProxy final : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Image_proxy> {
 public:
  ImageProxy(sdbus::IConnection& connection, std::string path)
      : ProxyInterfaces(connection, vocabulary::kBusName, std::move(path)) {}
  ~ImageProxy() = default;
};

class JobProxy final : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Job_proxy> {
 public:
  JobProxy(sdbus::IConnection& connection, std::string path)
      : ProxyInterfaces(connection, vocabulary::kBusName, std::move(path)) {}
  ~JobProxy() = default;

 private:
  void onCompleted(const bool&, const std::string&) override {}
};

}  // namespace virtscratch::client
