#include "daemon/metrics_text.h"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <string_view>
#include <utility>

#include "vocabulary/lifetime.h"

namespace virtscratch::daemon {
namespace {

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // `labels` is written as it is: name="value",... of the fixed vocabularies only.
  void sample(std::string_view name, std::string_view labels, uint64_t value) {
    char text[32];
    std::snprintf(text, sizeof text, "%" PRIu64, value);
    line(name, labels, text);
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    char text[40];
    std::snprintf(text, sizeof text, "%.9g", value);
    line(name, labels, text);
  }
  std::string take() { return std::move(out_); }

 private:
  void line(std::string_view name, std::string_view labels, const char* value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string out_;
};

// A family of one unlabelled gauge.
void gauge(Writer& w, std::string_view name, std::string_view help, uint64_t value) {
  w.family(name, "gauge", help);
  w.sample(name, "", value);
}

std::string label(std::string_view name, std::string_view value) {
  return std::string(name) + "=\"" + std::string(value) + "\"";
}

// Prometheus writes bucket bounds as Go formats floats: 0.005, 1, 2.5, +Inf.
std::string bound(double le) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", le);
  return text;
}

void writePool(Writer& w, const PoolStatus& pool) {
  gauge(w, "virtscratch_pool_virtual_bytes",
        "Sum of the virtual sizes of the pool's images (what [pool] quota counts).", pool.used);
  gauge(w, "virtscratch_pool_allocated_bytes",
        "Host bytes the pool's images occupy, as the last refresh counted them.", pool.allocated);
  gauge(w, "virtscratch_pool_free_bytes",
        "Bytes available on the pool's filesystem above the reserve.", pool.free);
  gauge(w, "virtscratch_pool_template_bytes",
        "Host bytes of templates, their descriptions and spares (not images).", pool.templateBytes);
  gauge(w, "virtscratch_pool_reserve_bytes",
        "Free space kept on the pool's filesystem ([pool] reserve).", pool.reserve);
  gauge(w, "virtscratch_pool_high_water_bytes",
        "High-water mark of the allocated bytes ([pool] high-water); 0: none.", pool.highWater);
  gauge(w, "virtscratch_pool_quota_bytes",
        "Quota on the sum of virtual sizes ([pool] quota); 0: none.", pool.quota);
  gauge(w, "virtscratch_pool_quota_allocated_bytes",
        "Quota on the sum of allocated bytes ([pool] quota-allocated); 0: none.",
        pool.quotaAllocated);
  w.family("virtscratch_pool_space_state", "gauge",
           "1 for the pool's space state: ok, high-water (allocated bytes past the mark) or "
           "reserve (free space under the reserve).");
  for (SpaceState s : {SpaceState::kOk, SpaceState::kHighWater, SpaceState::kReserve}) {
    w.sample("virtscratch_pool_space_state", label("state", toString(s)),
             uint64_t{pool.spaceState == s ? 1u : 0u});
  }
}

void writeImages(Writer& w, const std::vector<const ImageRecord*>& images) {
  std::map<std::pair<ImageState, vocabulary::Lifetime>, uint64_t> counts;
  for (ImageState s :
       {ImageState::kCreating, ImageState::kReady, ImageState::kAttached, ImageState::kReleasing}) {
    for (auto l : {vocabulary::Lifetime::kBoot, vocabulary::Lifetime::kDomain,
                   vocabulary::Lifetime::kManual}) {
      counts[{s, l}] = 0;
    }
  }
  for (const ImageRecord* r : images) ++counts[{r->state, r->lifetime}];
  w.family("virtscratch_images", "gauge", "Images in the pool by state and lifetime.");
  for (const auto& [key, count] : counts) {
    w.sample("virtscratch_images",
             label("state", toString(key.first)) + "," +
                 label("lifetime", vocabulary::toString(key.second)),
             count);
  }
}

void writeCounters(Writer& w, const Metrics& m, size_t jobsRunning) {
  const char* histogram = "virtscratch_allocate_duration_seconds";
  w.family(histogram, "histogram",
           "Time from an Allocate's start to its image being recorded, by how it was made: cold "
           "(mkfs), template (a clone), spare (made ahead), incoming (empty, for a migration).");
  for (AllocatePath path : kAllocatePaths) {
    const LatencyHistogram& h = m.latency(path);
    std::string p = label("path", toString(path));
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      w.sample("virtscratch_allocate_duration_seconds_bucket",
               p + "," + label("le", bound(kLatencyBuckets[i])), h.buckets[i]);
    }
    w.sample("virtscratch_allocate_duration_seconds_bucket", p + "," + label("le", "+Inf"),
             h.count);
    w.sample("virtscratch_allocate_duration_seconds_sum", p, h.sum);
    w.sample("virtscratch_allocate_duration_seconds_count", p, h.count);
  }
  w.family("virtscratch_allocate_failures_total", "counter",
           "Allocates that made no image (refused before the build is not counted here).");
  w.sample("virtscratch_allocate_failures_total", "", m.allocateFailures());

  w.family("virtscratch_requests_total", "counter",
           "Allocate and release requests by origin: hook (the libvirt hook), cli (virt-scratch), "
           "watcher (the daemon's libvirt watcher) or bus (other callers).");
  std::map<std::pair<std::string, std::string>, uint64_t> requests;
  for (std::string_view method : {"allocate", "release"}) {
    for (std::string_view origin : {"hook", "cli", "watcher", "bus"}) {
      if (method == "release" && origin == "watcher") continue;
      requests[{std::string(method), std::string(origin)}] = 0;
    }
  }
  for (const auto& [key, count] : m.requests()) requests[key] = count;
  for (const auto& [key, count] : requests) {
    w.sample("virtscratch_requests_total",
             label("method", key.first) + "," + label("origin", key.second), count);
  }

  w.family("virtscratch_jobs_total", "counter", "Jobs that ended, by operation and outcome.");
  std::map<std::pair<std::string, std::string>, uint64_t> jobs;
  for (std::string_view op : {"allocate", "export"}) {
    for (std::string_view outcome : {"ok", "failed", "cancelled"}) {
      jobs[{std::string(op), std::string(outcome)}] = 0;
    }
  }
  for (const auto& [key, count] : m.jobs()) jobs[key] = count;
  for (const auto& [key, count] : jobs) {
    w.sample("virtscratch_jobs_total",
             label("operation", key.first) + "," + label("outcome", key.second), count);
  }
  gauge(w, "virtscratch_jobs_running", "Jobs running or waiting their turn.",
        uint64_t{jobsRunning});
}

void writeLibvirt(Writer& w, const LibvirtMetrics& l) {
  gauge(w, "virtscratch_libvirt_configured",
        "1 when [libvirt] uri is set, 0 when the daemon runs without libvirt.",
        uint64_t{l.configured ? 1u : 0u});
  gauge(w, "virtscratch_libvirt_connected", "1 while the libvirt connection is open.",
        uint64_t{l.connected ? 1u : 0u});
  w.family("virtscratch_libvirt_connects_total", "counter",
           "libvirt connections opened since the daemon started (the first and each reconnect).");
  w.sample("virtscratch_libvirt_connects_total", "", l.connects);
  w.family("virtscratch_libvirt_disconnects_total", "counter",
           "libvirt connections lost (libvirtd stopped, restarted or stopped answering).");
  w.sample("virtscratch_libvirt_disconnects_total", "", l.losses);
}

}  // namespace

std::string metricsText(const MetricsView& view) {
  Writer w;
  w.family("virtscratch_info", "gauge", "Always 1; the daemon's version is a label.");
  w.sample("virtscratch_info", label("version", view.version), uint64_t{1});
  writeImages(w, view.images);
  writePool(w, view.pool);
  if (view.counters != nullptr) writeCounters(w, *view.counters, view.jobsRunning);
  writeLibvirt(w, view.libvirt);
  return w.take();
}

}  // namespace virtscratch::daemon
