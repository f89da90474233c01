// What the daemon counts for its metrics: Allocate latency by path, requests by origin, jobs by
// outcome and the libvirt connection's history. Counters only grow while the daemon runs (a
// restart starts them at zero, as Prometheus expects of counters). Loop thread.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

namespace virtscratch::daemon {

// How an image was made: mkfs ran (cold), a clone of a template (template), a spare made ahead
// was renamed into place (spare), or an empty image for an incoming migration (incoming).
enum class AllocatePath { kCold, kTemplate, kSpare, kIncoming };
inline constexpr std::array<AllocatePath, 4> kAllocatePaths = {
    AllocatePath::kCold, AllocatePath::kTemplate, AllocatePath::kSpare, AllocatePath::kIncoming};
std::string_view toString(AllocatePath path);

// Upper bounds of the Allocate latency histogram's buckets, in seconds (+Inf besides): from a
// spare's few milliseconds to a cold mkfs of terabytes.
inline constexpr std::array<double, 12> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                           0.5,   1,    2.5,   5,    10,  30};

struct LatencyHistogram {
  std::array<uint64_t, kLatencyBuckets.size()> buckets{};  // observations <= each bound
  uint64_t count = 0;
  double sum = 0;  // seconds
  void observe(double seconds);
};

// Who asked: the origin an Allocate's spec or a release's options name ("hook", "cli"), the
// daemon's own watcher ("watcher"), or "bus" for callers that do not say.
inline constexpr std::string_view kOriginBus = "bus";
inline constexpr std::string_view kOriginWatcher = "watcher";

class Metrics {
 public:
  // A finished Allocate that made an image (joined and idempotent calls are not timed).
  void allocated(AllocatePath path, double seconds);
  void allocateFailed() { ++allocateFailures_; }
  // A request arrived: `method` "allocate" or "release", `origin` as above.
  void request(std::string_view method, std::string_view origin);
  // A job ended: `operation` "allocate" or "export", `outcome` "ok", "failed" or "cancelled".
  void jobEnded(std::string_view operation, std::string_view outcome);

  const LatencyHistogram& latency(AllocatePath path) const {
    return latency_[static_cast<size_t>(path)];
  }
  uint64_t allocateFailures() const { return allocateFailures_; }
  // (method, origin) -> count
  const std::map<std::pair<std::string, std::string>, uint64_t>& requests() const {
    return requests_;
  }
  // (operation, outcome) -> count
  const std::map<std::pair<std::string, std::string>, uint64_t>& jobs() const { return jobs_; }

 private:
  std::array<LatencyHistogram, kAllocatePaths.size()> latency_{};
  uint64_t allocateFailures_ = 0;
  std::map<std::pair<std::string, std::string>, uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, uint64_t> jobs_;
};

// The libvirt connection as the metrics show it, kept by the daemon's libvirt side.
struct LibvirtMetrics {
  bool configured = false;  // [libvirt] uri is set
  bool connected = false;
  uint64_t connects = 0;  // connections opened since the daemon started
  uint64_t losses = 0;    // connections lost (libvirtd stopped, restarted or stopped answering)
};

}  // namespace virtscratch::daemon
