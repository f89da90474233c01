// The client library of virt-scratchd: typed calls to org.virtscratch.Scratch1 on the system bus
// (sd-bus honours DBUS_SYSTEM_BUS_ADDRESS), for the libvirt hook, the virt-scratch command and
// management tools (pkg-config virt-scratch-client). Errors come back as values: the daemon's
// named errors as their ErrorCode, the bus's own (daemon not running, no answer) as sentences.
// This header includes no sdbus-c++ or generated header. A ScratchClient owns its connection and
// is used from one thread at a time; it runs no thread of its own, and the export processes the
// connection itself until the job ends.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "vocabulary/allocate_spec.h"
#include "vocabulary/lifetime.h"

namespace virtscratch::client {

using Clock = std::chrono::steady_clock;

struct ConnectOptions {
  // Each call's timeout (a cold Allocate formats a disk).
  std::chrono::microseconds callTimeout = std::chrono::minutes(5);
  // When set, no call runs past it: each gets what is left (the hook's [hook] timeout).
  std::optional<Clock::time_point> deadline;
};

// What Allocate answers: the Image object and its file, in one reply.
struct Allocated {
  std::string object;  // /org/virtscratch/Scratch1/image/<id>
  std::string path;    // <pool>/<domain uuid>/<target>.<format>
};

struct ReleaseDomainOptions {
  bool force = false;                           // release even images a running domain has attached
  std::vector<vocabulary::Lifetime> lifetimes;  // only these lifetimes; empty: every image
  std::string origin;  // who asks, for the daemon's metrics: "hook", "cli" or empty
};

// An Image object's properties (docs/dbus-api.md).
struct ImageInfo {
  std::string object;
  std::string id, path, domain, domainName, target, state, lifetime, format, filesystem, label,
      filesystemUuid, encryption;
  uint64_t virtualSize = 0;
  uint64_t allocatedSize = 0;
  uint64_t createdUs = 0;  // microseconds since the epoch
};

// The Manager's properties.
struct PoolInfo {
  uint32_t interfaceVersion = 0;
  std::string version, path;
  uint64_t quota = 0, used = 0, free = 0, templateBytes = 0;
  uint32_t imageCount = 0;
  std::string defaultEncryption;  // [pool] encryption: none or luks
  std::string defaultDiscard;     // [pool] discard: unmap or ignore
  uint64_t allocated = 0;         // host bytes of the images, as last counted (PoolAllocated)
  uint64_t quotaAllocated = 0;    // [pool] quota-allocated; 0: none
  uint64_t highWater = 0;         // [pool] high-water in bytes; 0: none
  std::string spaceState;         // ok, high-water or reserve
};

struct ExportOptions {
  std::optional<uint32_t> level;    // gzip level 1..9
  std::optional<uint32_t> threads;  // 0: one per core
};
// Bytes done of `total`, at most every 100 ms or so.
using ExportProgress = std::function<void(uint64_t done, uint64_t total)>;
// Asked while waiting: true cancels the job (the export then ends with kCancelled).
using CancelCheck = std::function<bool()>;

class ScratchClient {
 public:
  // The interface version this library speaks (Manager.InterfaceVersion).
  static constexpr uint32_t kInterfaceVersion = 1;

  // Connects to the system bus. No call is made yet: the daemon may start later (activation).
  static Result<std::unique_ptr<ScratchClient>> connect(const ConnectOptions& options = {});
  ~ScratchClient();
  ScratchClient(const ScratchClient&) = delete;
  ScratchClient& operator=(const ScratchClient&) = delete;

  // Manager.Allocate: makes the image or returns the existing one of domain and target.
  Result<Allocated> allocate(const std::string& domain, const vocabulary::AllocateSpec& spec);
  // The same with the a{sv} as given, for callers that leave checking the names to the daemon.
  Result<Allocated> allocate(const std::string& domain, const vocabulary::SpecMap& spec);

  // Image.Release of the image given by id or object path.
  Status releaseImage(std::string_view idOrPath, bool force);
  // Image.OpenKey: the passphrase of an encrypted image, as the daemon's sealed memory file.
  Result<UniqueFd> openKey(std::string_view idOrPath);
  // Manager.ReleaseDomain: how many images were released.
  Result<uint32_t> releaseDomain(const std::string& domain, const ReleaseDomainOptions& options);

  // Every image, in one call (ObjectManager.GetManagedObjects), sorted by object path.
  Result<std::vector<ImageInfo>> listImages();
  // One image by id or object path; kNotFound when there is none.
  Result<ImageInfo> image(std::string_view idOrPath);
  // The pool's numbers and the daemon's versions, in one call.
  Result<PoolInfo> status();
  // Manager.Metrics: the daemon's metrics in Prometheus' text format.
  Result<std::string> metrics();
  // Manager.InterfaceVersion; kFailed naming both versions when the daemon speaks a newer one
  // than this library knows.
  Result<uint32_t> checkInterfaceVersion();

  // Manager.Export into `fd` (opened by the caller, see docs/dbus-api.md), waiting for the job's
  // Completed signal; reports progress and cancels the job when `cancelled` says so.
  Status exportImage(std::string_view idOrPath, int fd, const ExportOptions& options,
                     const ExportProgress& progress = {}, const CancelCheck& cancelled = {});

 private:
  struct Impl;
  explicit ScratchClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The object path of an image given as its id ("<uuid hex>_<target>") or object path;
// kInvalidArgument naming the value otherwise.
Result<std::string> imagePathFor(std::string_view idOrPath);

}  // namespace virtscratch::client
