// The daemon's metrics as text in Prometheus' exposition format (version 0.0.4): what
// node_exporter's textfile collector reads and `promtool check metrics` checks. Every family has
// HELP and TYPE; counters end in _total; sizes are in bytes and times in seconds. Pure function,
// any thread.
#pragma once

#include <string>
#include <vector>

#include "daemon/image_record.h"
#include "daemon/metrics.h"
#include "daemon/service.h"

namespace virtscratch::daemon {

struct MetricsView {
  std::string version;  // the daemon's
  PoolStatus pool;
  std::vector<const ImageRecord*> images;
  size_t jobsRunning = 0;
  const Metrics* counters = nullptr;
  LibvirtMetrics libvirt;
};

std::string metricsText(const MetricsView& view);

}  // namespace virtscratch::daemon
