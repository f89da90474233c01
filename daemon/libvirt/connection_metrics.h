// Counts the libvirt connection's opens and losses for the metrics (daemon/metrics.h). An
// observer of the LibvirtConnection; loop thread.
#pragma once

#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/metrics.h"

namespace virtscratch::daemon::libvirt {

class ConnectionMetrics final : public ConnectionObserver {
 public:
  void connected(virConnectPtr /*conn*/) override {
    ++metrics_.connects;
    metrics_.connected = true;
  }
  void disconnected(virConnectPtr /*conn*/) override {
    ++metrics_.losses;
    metrics_.connected = false;
  }
  LibvirtMetrics metrics() const {
    LibvirtMetrics m = metrics_;
    m.configured = true;
    return m;
  }

 private:
  LibvirtMetrics metrics_;
};

}  // namespace virtscratch::daemon::libvirt
