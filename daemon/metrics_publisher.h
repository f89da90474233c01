// The daemon's refresh: every [pool] refresh seconds the Service counts its space again
// (Service::refreshSpace) and the metrics text is rewritten to [metrics] textfile, if set. Also
// renders the text Manager.Metrics answers. A failing write is logged when it starts failing and
// when it works again, not at every refresh. Loop thread.
#pragma once

#include <functional>
#include <string>

#include "daemon/metrics.h"
#include "daemon/service.h"

namespace virtscratch::daemon {

class MetricsPublisher {
 public:
  // `libvirt` tells the connection's state; null when the daemon runs without libvirt.
  MetricsPublisher(Service& service, std::string version, std::string textfile,
                   std::function<LibvirtMetrics()> libvirt);

  std::string text() const;
  void refresh();

 private:
  Service& service_;
  std::string version_;
  std::string textfile_;
  std::function<LibvirtMetrics()> libvirt_;
  std::string lastError_;
};

}  // namespace virtscratch::daemon
