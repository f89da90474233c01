// The daemon's model: the pool of scratch images, their records, templates, jobs, quota and
// access. Who may change the pool is decided before the Service is called, by its bus face
// (polkit, daemon/dbus/authorizer.h); the Service acts for the Caller it is given: an Allocate's
// content is read with that uid's and those groups' rights (the other methods take the Caller for
// the same contract and need nothing of it today). It knows nothing of D-Bus (daemon/dbus/ is its
// bus face) or of libvirt (the watcher calls it). Lives on the main loop thread: every method must
// be called there, and every callback and listener call happens there. Slow work (mkfs, copies,
// export) runs on a worker pool and comes back through the LoopInvoker.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/config.h"
#include "daemon/image_record.h"
#include "daemon/loop_invoker.h"
#include "daemon/metrics.h"
#include "image/spec.h"
#include "vocabulary/allocate_spec.h"
#include "vocabulary/lifetime.h"

namespace virtscratch::daemon {

// Who is calling, as the bus says (GetConnectionCredentials of the sender's connection).
struct Caller {
  uid_t uid = 0;
  std::vector<gid_t> groups;  // the connection's Unix groups as the bus reports them (UnixGroupIDs)
  std::string sender;         // unique bus name (":1.42"); empty for in-process callers
};

// Allocate's request: the domain and the spec as the bus layer decoded it from a{sv}
// (vocabulary::parseSpecMap) or the watcher made it from metadata (vocabulary::allocateSpecOf).
// The Service validates all of it.
struct AllocateRequest {
  std::string domain;  // libvirt domain UUID, or a name the DomainResolver knows
  vocabulary::AllocateSpec spec;
};

struct ExportParams {
  UniqueFd output;  // opened by the caller: an empty regular file or a pipe (export_output.h)
  int level = 1;
  unsigned threads = 0;
};

// How full the pool is, as the last refresh found it (Service::refreshSpace): ok, past the
// high-water mark of allocated bytes, or under the reserve of free space (the worse of the two).
enum class SpaceState { kOk, kHighWater, kReserve };
std::string_view toString(SpaceState state);  // "ok", "high-water", "reserve"

struct PoolStatus {
  std::string path;
  uint64_t quota = 0;
  uint64_t used = 0;  // sum of virtual sizes of the pool's images
  uint64_t free = 0;  // bytes available on the pool's filesystem, less the reserve
  // Sum of the host bytes the images occupy, as last counted (at each refresh, and for each
  // image when it is made).
  uint64_t allocated = 0;
  uint64_t quotaAllocated = 0;  // [pool] quota-allocated; 0: none
  uint64_t highWater = 0;       // [pool] high-water in bytes; 0: none
  uint64_t reserve = 0;         // [pool] reserve in bytes
  SpaceState spaceState = SpaceState::kOk;
  uint32_t imageCount = 0;
  uint64_t templateBytes = 0;  // host bytes of templates, their descriptions and spares
  image::Encryption encryption = image::Encryption::kNone;  // [pool] encryption
  bool discard = true;                                      // [pool] discard
};

// Release's options (the a{sv} of Image.Release and Manager.ReleaseDomain).
struct ReleaseOptions {
  bool force = false;  // release even an image attached to a running domain
  // ReleaseDomain only: release just the images of these lifetimes; empty: every image.
  std::vector<vocabulary::Lifetime> lifetimes;
  std::string origin;  // "hook", "cli" or empty (vocabulary::parseOrigin), for the metrics
};

struct JobInfo {
  uint64_t id = 0;
  std::string operation;  // "allocate", "export"
  double progress = 0;    // 0..1
  uint64_t bytes = 0;     // done
  uint64_t rate = 0;      // bytes per second
};

// Looks up libvirt domains. Without libvirt, a UUID is taken as it is and names are unknown.
struct DomainId {
  std::string uuid;
  std::string name;
};
class DomainResolver {
 public:
  virtual ~DomainResolver() = default;
  virtual Result<DomainId> resolve(std::string_view uuidOrName) = 0;
};

// Whether a domain runs with some of the given image files as disk sources. The daemon's libvirt
// side answers it; without libvirt there is no probe and nothing is known.
struct DomainUse {
  std::string name;                        // the domain's name, for messages
  std::vector<std::string> attachedPaths;  // those of the paths asked that the running domain uses
};
class AttachmentProbe {
 public:
  virtual ~AttachmentProbe() = default;
  // Called on the loop thread; `done` runs there later (never inside the call). An error when it
  // cannot be told (libvirt unreachable).
  virtual void inUse(const std::string& domainUuid, std::vector<std::string> paths,
                     std::function<void(Result<DomainUse>)> done) = 0;
};

class SecretStore;

class ServiceListener {
 public:
  virtual ~ServiceListener() = default;
  virtual void imageAdded(const ImageRecord& record) = 0;
  virtual void imageChanged(const ImageRecord& record) = 0;  // state or sizes changed
  // reason: "released", "domain-stopped", "domain-undefined", "domain-migrated", "cleanup"
  virtual void imageRemoved(const ImageRecord& record, std::string_view reason) = 0;
  virtual void jobAdded(const JobInfo& job) = 0;
  virtual void jobProgress(const JobInfo& job) = 0;  // at most every 200 ms per job
  virtual void jobCompleted(const JobInfo& job, const Status& status) = 0;
  // A refresh found the pool in another SpaceState: `allocated` is the images' host bytes and
  // `available` the bytes free on the pool's filesystem (statvfs f_bavail), as it found them.
  virtual void spaceChanged(SpaceState /*state*/, uint64_t /*allocated*/, uint64_t /*available*/) {}
};

class ImageEngine;

// The public face: every method forwards to its one implementation (Service::Impl,
// service_impl.h), so the include list here stays that of the contract.
class Service {
 public:
  // `engine` makes, clones and exports the images (image_engine.h); it must outlive the Service.
  Service(Config config, LoopInvoker& loop, ServiceListener& listener, DomainResolver& resolver,
          ImageEngine& engine);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Opens (creates) the pool, removes temporary and half-made files, rebuilds the records.
  // Returns a line for the log saying what was found and cleaned.
  Result<std::string> start();

  // Makes the image on a worker thread; `done` runs on the loop thread. Idempotent: an existing
  // image of the same domain and target is returned as it is. Quota, free space and content
  // roots are checked before anything is written (kQuotaExceeded, kNoSpace, kAccessDenied); every
  // bad field gives kInvalidArgument naming it.
  void allocate(const Caller& caller, AllocateRequest request,
                std::function<void(Result<ImageRecord>)> done);
  // The bus connection `sender` (Caller::sender) has closed. Its allocations in flight that no
  // other caller waits for are cancelled, and nothing of them stays in the pool: the hook that
  // gave up at its timeout leaves no image for a domain that did not start.
  void callerGone(const std::string& sender);

  // Release for callers on the bus: unless options.force, an image attached to a running domain
  // (as the AttachmentProbe tells) is kBusy naming the domain. `done` runs on the loop thread,
  // inside the call when there is nothing to ask.
  void releaseImage(const Caller& caller, std::string_view id, ReleaseOptions options,
                    std::function<void(Status)> done);
  void releaseDomain(const Caller& caller, std::string_view domain, ReleaseOptions options,
                     std::function<void(Result<uint32_t>)> done);
  // The passphrase of encrypted image `id` in a sealed memory file (never a string on the bus):
  // root only (kAccessDenied otherwise), where the SecretStore gives keys back.
  Result<UniqueFd> openKey(const Caller& caller, std::string_view id);

  // The probe for the two above; null (the default): nothing is known, release is allowed.
  void setAttachmentProbe(AttachmentProbe* probe);
  // Where the keys of encrypted images go (daemon/secret_store.h); null (the default): the
  // daemon's memory. Must outlive the Service or be reset first.
  void setSecretStore(SecretStore* store);

  // Release at once, without asking whether a domain runs (as with force).
  Result<uint32_t> releaseDomain(const Caller& caller, std::string_view domain,
                                 std::string_view reason = "released");
  Status releaseImage(const Caller& caller, std::string_view id,
                      std::string_view reason = "released");
  // Releases the domain's images whose lifetime is in `lifetimes` and that no Allocate has claimed
  // since `claimedUpTo` (a claimMark() taken when the libvirt event was seen): an event of a run
  // that has ended never releases what the next run of the domain asked for.
  uint32_t releaseByLifetime(std::string_view domainUuid,
                             std::vector<vocabulary::Lifetime> lifetimes, std::string_view reason,
                             uint64_t claimedUpTo);
  // Releases the domain's images still marked incoming (ImageRecord::incoming) that no Allocate
  // has claimed since `claimedUpTo`: the domain turned up stopped, so no migration brought their
  // data, and its next start must make them afresh.
  uint32_t releaseIncoming(std::string_view domainUuid, std::string_view reason,
                           uint64_t claimedUpTo);
  // The domain runs on this host: its incoming images hold its data now. Their records are
  // written again without the mark.
  void settleIncoming(std::string_view domainUuid);
  // Every image made or returned by an Allocate so far has ImageRecord::claim <= this.
  uint64_t claimMark() const;
  Status setState(std::string_view id, ImageState state);

  std::vector<const ImageRecord*> images() const;
  const ImageRecord* findImage(std::string_view id) const;
  // Host bytes the image occupies, as last counted (no stat: see refreshSpace).
  uint64_t allocatedBytes(std::string_view id) const;

  // Starts an export job; its progress and end reach the listener.
  Result<uint64_t> startExport(const Caller& caller, std::string_view id, ExportParams params);
  Status cancelJob(const Caller& caller, uint64_t jobId);
  std::vector<JobInfo> jobs() const;
  std::optional<JobInfo> findJob(uint64_t jobId) const;  // nothing once it has completed

  PoolStatus poolStatus() const;
  // Counts the host bytes of every image and the pool's free space again, then checks the
  // high-water mark and the reserve: when the SpaceState changes, a log line (a warning when it
  // worsens) and the listener's spaceChanged. The daemon calls it every [pool] refresh seconds.
  void refreshSpace();
  // What the Service counted since it started (Allocate latency, requests, jobs).
  const Metrics& metrics() const;

  // Takes the keys a reload may change (config.h, keysNeedingRestart) from `config`; the rest
  // stay as they were. Work already admitted keeps the limits it was checked against.
  Status reconfigure(const Config& config);

  // Stops taking work, lets running jobs finish (or cancels them when `cancel`), then calls
  // `done` on the loop thread.
  void shutdown(bool cancel, std::function<void()> done);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace virtscratch::daemon
