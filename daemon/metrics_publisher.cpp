#include "daemon/metrics_publisher.h"

#include <utility>

#include "daemon/log.h"
#include "daemon/metrics_file.h"
#include "daemon/metrics_text.h"

namespace virtscratch::daemon {

MetricsPublisher::MetricsPublisher(Service& service, std::string version, std::string textfile,
                                   std::function<LibvirtMetrics()> libvirt)
    : service_(service),
      version_(std::move(version)),
      textfile_(std::move(textfile)),
      libvirt_(std::move(libvirt)) {}

std::string MetricsPublisher::text() const {
  MetricsView view;
  view.version = version_;
  view.pool = service_.poolStatus();
  view.images = service_.images();
  view.jobsRunning = service_.jobs().size();
  view.counters = &service_.metrics();
  if (libvirt_) view.libvirt = libvirt_();
  return metricsText(view);
}

void MetricsPublisher::refresh() {
  service_.refreshSpace();
  if (textfile_.empty()) return;
  Status written = writeMetricsFile(textfile_, text());
  if (!written.ok()) {
    if (written.message() != lastError_) {
      logLine(LogLevel::kWarning, "cannot write the metrics to [metrics] textfile " + textfile_ +
                                      ": " + written.message() + " (tried again at every refresh)");
    }
    lastError_ = written.message();
  } else if (!lastError_.empty()) {
    logLine(LogLevel::kNotice, "the metrics are written to " + textfile_ + " again");
    lastError_.clear();
  }
}

}  // namespace virtscratch::daemon
