// What the client commands share: the connection to virt-scratchd on the system bus
// (DBUS_SYSTEM_BUS_ADDRESS is honoured by sd-bus), proxies built from the generated bindings,
// turning bus errors into Status values, and reading image descriptions. Single-threaded: the
// commands process the connection themselves, no sdbus-c++ thread runs.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "scratch1_proxy.h"

namespace virtscratch::cli {

using PropertyMap = std::map<std::string, sdbus::Variant>;

class ManagerProxy final : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Manager_proxy,
                                                         sdbus::Properties_proxy> {
 public:
  explicit ManagerProxy(sdbus::IConnection& connection);
  ~ManagerProxy();

 private:
  void onImageAdded(const sdbus::ObjectPath&, const std::string&) override {}
  void onImageRemoved(const sdbus::ObjectPath&, const std::string&, const std::string&) override {}
  void onPropertiesChanged(const std::string&, const PropertyMap&,
                           const std::vector<std::string>&) override {}
};

class ImageProxy final : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Image_proxy,
                                                       sdbus::Properties_proxy> {
 public:
  ImageProxy(sdbus::IConnection& connection, std::string path);
  ~ImageProxy();

 private:
  void onPropertiesChanged(const std::string&, const PropertyMap&,
                           const std::vector<std::string>&) override {}
};

class JobProxy final : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Job_proxy> {
 public:
  JobProxy(sdbus::IConnection& connection, std::string path);
  ~JobProxy();

 private:
  void onCompleted(const bool&, const std::string&) override {}
};

// Connects to the system bus. Long calls (a cold Allocate formats a disk) get `timeout`.
Result<std::unique_ptr<sdbus::IConnection>> connectToBus(
    std::chrono::microseconds timeout = std::chrono::minutes(5));

// An error from the bus as a Status: the daemon's named errors keep their message; "the
// daemon is not running" and bus policy denials say so.
Status fromBusError(const sdbus::Error& error);

// Runs `body`, turning a thrown sdbus::Error into its Status.
Status callBus(const std::function<Status()>& body);

// Checks that a command-line argument can travel on the bus (D-Bus strings are UTF-8).
Status requireUtf8(std::string_view what, std::string_view value);

// The object path for an image given as an id or as its object path.
Result<std::string> imagePathFor(std::string_view idOrPath);

// Every image's properties (org.virtscratch.Scratch1.Image), by object path, in one call.
std::map<std::string, PropertyMap> allImages(sdbus::IConnection& connection);

// An image's properties as text ("Key: value" lines) or as a JSON object.
std::string imageText(const PropertyMap& props);
std::string imageJson(const std::string& path, const PropertyMap& props);

// Processes the connection (signals, replies) until `done()`; `tick` runs at least every
// 100 ms, to notice Ctrl-C.
void pumpUntil(sdbus::IConnection& connection, const std::function<bool()>& done,
               const std::function<void()>& tick);

}  // namespace virtscratch::cli
