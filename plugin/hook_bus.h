// The hook's calls to virt-scratchd on the system bus (sd-bus honours DBUS_SYSTEM_BUS_ADDRESS),
// through the proxies generated from dbus/org.virtscratch.Scratch1.xml. Every call is bounded by
// one deadline for the whole run ([hook] timeout). Single-threaded: no sdbus-c++ event loop
// thread, no child process.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "vocabulary/scratch_metadata.h"
#include "base/status.h"

namespace virtscratch::hook {

using Clock = std::chrono::steady_clock;

// The Allocate spec (a{sv}) for one scratch disk of a domain with `vcpus` vCPUs: size, or
// size-per-vcpu with vcpus, and format, filesystem, label, partition, target, lifetime.
std::map<std::string, sdbus::Variant> allocateSpec(const vocabulary::ScratchDisk& disk, uint32_t vcpus);

class DaemonClient {
 public:
  // Connects to the system bus; fails when it cannot (no bus) or the deadline has passed.
  static Result<std::unique_ptr<DaemonClient>> connect(Clock::time_point deadline);
  ~DaemonClient();
  DaemonClient(const DaemonClient&) = delete;
  DaemonClient& operator=(const DaemonClient&) = delete;

  // Asks for the image (idempotent for domain and target) and returns its file's path.
  Result<std::string> allocate(const std::string& domainUuid, const vocabulary::ScratchDisk& disk,
                               uint32_t vcpus);
  // Releases every image of the domain whose lifetime is boot; returns how many. Images that
  // went away meanwhile (the daemon's own watcher) are not errors.
  Result<uint32_t> releaseBootImages(const std::string& domainUuid);

 private:
  DaemonClient(std::unique_ptr<sdbus::IConnection> connection, Clock::time_point deadline);
  // Gives the next call what is left of the deadline; fails when nothing is.
  Status armTimeout();

  std::unique_ptr<sdbus::IConnection> connection_;
  Clock::time_point deadline_;
};

}  // namespace virtscratch::hook
