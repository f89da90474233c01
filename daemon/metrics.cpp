#include "daemon/metrics.h"

namespace virtscratch::daemon {

std::string_view toString(AllocatePath path) {
  switch (path) {
    case AllocatePath::kCold:
      return "cold";
    case AllocatePath::kTemplate:
      return "template";
    case AllocatePath::kSpare:
      return "spare";
    case AllocatePath::kIncoming:
      return "incoming";
  }
  return "cold";
}

void LatencyHistogram::observe(double seconds) {
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) ++buckets[i];
  }
  ++count;
  sum += seconds;
}

void Metrics::allocated(AllocatePath path, double seconds) {
  latency_[static_cast<size_t>(path)].observe(seconds);
}

void Metrics::request(std::string_view method, std::string_view origin) {
  ++requests_[{std::string(method), std::string(origin)}];
}

void Metrics::jobEnded(std::string_view operation, std::string_view outcome) {
  ++jobs_[{std::string(operation), std::string(outcome)}];
}

}  // namespace virtscratch::daemon
