// virt-scratchd's connection to libvirt: opens the configured URI, turns on keepalive, notices
// the connection closing (libvirtd restarted or gone) and opens it again with a growing delay
// on a GLib timer. Observers hear of every connect and disconnect, and subscribe to domain
// events themselves. Lives on the loop thread of the context it is given, which must be the one
// registerGLibEventLoop was called with: every method, and every observer call, happens there.
//
// The open itself runs on a thread of its own, never on the loop: a libvirtd that is starting
// accepts the socket but answers only once its autostart is done, and autostart runs the hook,
// which waits for the daemon's Allocate. The loop goes on serving meanwhile; the thread hands
// the open connection back to the loop (or closes it, when the connection object is gone).
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "daemon/log.h"

namespace virtscratch::daemon::libvirt {

struct ConnectCloser {
  void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomainFreer {
  void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using ConnectPtr = std::unique_ptr<virConnect, ConnectCloser>;
using DomainPtr = std::unique_ptr<virDomain, DomainFreer>;
// A reference of its own to `conn`, for work on a worker thread: the connection may be closed
// meanwhile.
using SharedConnect = std::shared_ptr<virConnect>;
SharedConnect shareConnection(virConnectPtr conn);

// libvirt's last error on this thread as a Status: "<what>: <libvirt's message>".
Status libvirtError(std::string_view what);
// Whether libvirt's last error on this thread has `code` (virErrorNumber).
bool lastErrorIs(int code);
// Stops libvirt printing every error on stderr: the callers put them in their own messages.
void quietLibvirtErrors();

class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  // The connection is open; `conn` stays valid until disconnected().
  virtual void connected(virConnectPtr conn) = 0;
  // Called before `conn` is closed: deregister what was registered on it.
  virtual void disconnected(virConnectPtr conn) = 0;
};

class LibvirtConnection {
 public:
  struct Options {
    std::string uri;
    unsigned firstRetryMs = 1000;  // the delay doubles after each failure up to maxRetryMs
    unsigned maxRetryMs = 30000;
    int keepAliveIntervalS = 5;  // libvirtd that does not answer 3 probes 5 s apart is gone
    unsigned keepAliveCount = 3;
  };

  LibvirtConnection(Options options, GMainContext* context);
  ~LibvirtConnection();
  LibvirtConnection(const LibvirtConnection&) = delete;
  LibvirtConnection& operator=(const LibvirtConnection&) = delete;

  // Observers must outlive the connection or be removed first.
  void addObserver(ConnectionObserver* observer);
  void removeObserver(ConnectionObserver* observer);

  // Starts connecting now (on the connecting thread); on failure keeps trying on the timer.
  void start();

  virConnectPtr get() const { return conn_.get(); }  // null while disconnected
  bool connected() const { return conn_ != nullptr; }
  const std::string& uri() const { return options_.uri; }

 private:
  struct Attempt;  // one open in flight on its thread
  void tryConnect();
  void adopt(ConnectPtr conn, const Status& error, const std::vector<std::string>& notes);
  void scheduleRetry();
  void closeConnection(LogLevel level, std::string_view why);
  static void onClose(virConnectPtr conn, int reason, void* opaque);

  Options options_;
  GMainContext* context_;
  ConnectPtr conn_;
  std::vector<ConnectionObserver*> observers_;
  unsigned nextRetryMs_;
  GSource* retry_ = nullptr;          // the pending reconnect timer
  GSource* closing_ = nullptr;        // the pending close after libvirt reported one
  std::shared_ptr<Attempt> attempt_;  // the open in flight, if any
  bool closeCallback_ = false;
};

}  // namespace virtscratch::daemon::libvirt
