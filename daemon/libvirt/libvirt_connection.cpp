#include "daemon/libvirt/libvirt_connection.h"

#include <libvirt/virterror.h>

#include <algorithm>
#include <functional>
#include <string>

#include "daemon/glib_source.h"
#include "daemon/log.h"

namespace virtscratch::daemon::libvirt {
namespace {

std::string_view closeReason(int reason) {
  switch (reason) {
    case VIR_CONNECT_CLOSE_REASON_ERROR:
      return "a socket error";
    case VIR_CONNECT_CLOSE_REASON_EOF:
      return "libvirtd closed it";
    case VIR_CONNECT_CLOSE_REASON_KEEPALIVE:
      return "libvirtd stopped answering keepalive probes";
    default:
      return "the client closed it";
  }
}

void cancel(GSource*& source) {
  if (source == nullptr) return;
  g_source_destroy(source);
  g_source_unref(source);
  source = nullptr;
}

}  // namespace

Status libvirtError(std::string_view what) {
  const char* message = virGetLastErrorMessage();
  return failed(std::string(what) + ": " +
                (message != nullptr ? message : "unknown libvirt error"));
}

bool lastErrorIs(int code) { return virGetLastErrorCode() == code; }

SharedConnect shareConnection(virConnectPtr conn) {
  virConnectRef(conn);
  return SharedConnect(conn, virConnectClose);
}

void quietLibvirtErrors() {
  virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
}

LibvirtConnection::LibvirtConnection(Options options, GMainContext* context)
    : options_(std::move(options)), context_(context), nextRetryMs_(options_.firstRetryMs) {}

LibvirtConnection::~LibvirtConnection() {
  cancel(retry_);
  cancel(closing_);
  if (conn_) closeConnection(LogLevel::kInfo, "the daemon is stopping");
}

void LibvirtConnection::addObserver(ConnectionObserver* observer) {
  observers_.push_back(observer);
  if (conn_) observer->connected(conn_.get());
}

void LibvirtConnection::removeObserver(ConnectionObserver* observer) {
  std::erase(observers_, observer);
}

void LibvirtConnection::start() {
  if (!conn_ && retry_ == nullptr) tryConnect();
}

void LibvirtConnection::tryConnect() {
  cancel(retry_);
  ConnectPtr conn(virConnectOpen(options_.uri.c_str()));
  if (!conn) {
    Status error = libvirtError("cannot connect to libvirt at " + options_.uri);
    logLine(LogLevel::kWarning,
            error.message() + "; trying again in " + std::to_string(nextRetryMs_) + " ms");
    scheduleRetry();
    return;
  }
  // Only remote connections (libvirtd) have keepalive; the in-process drivers say unsupported.
  if (virConnectSetKeepAlive(conn.get(), options_.keepAliveIntervalS, options_.keepAliveCount) <
      0) {
    logLine(LogLevel::kDebug, libvirtError("no keepalive on " + options_.uri).message());
  }
  closeCallback_ = virConnectRegisterCloseCallback(conn.get(), onClose, this, nullptr) == 0;
  if (!closeCallback_) {
    logLine(LogLevel::kWarning, libvirtError("no close notification on " + options_.uri).message() +
                                    "; a lost connection is noticed at the next failing call only");
  }
  conn_ = std::move(conn);
  nextRetryMs_ = options_.firstRetryMs;
  logLine(LogLevel::kInfo, "connected to libvirt at " + options_.uri);
  // A copy: an observer may remove itself.
  std::vector<ConnectionObserver*> observers = observers_;
  for (ConnectionObserver* o : observers) {
    if (conn_) o->connected(conn_.get());
  }
}

void LibvirtConnection::scheduleRetry() {
  cancel(retry_);
  unsigned delay = nextRetryMs_;
  nextRetryMs_ = std::min(options_.maxRetryMs, std::max(1u, nextRetryMs_) * 2);
  retry_ = runOnce(context_, delay, [this] {
    // The source is being dispatched: drop our ref, it goes away after this call.
    g_source_unref(std::exchange(retry_, nullptr));
    tryConnect();
  });
}

void LibvirtConnection::closeConnection(LogLevel level, std::string_view why) {
  if (!conn_) return;
  logLine(level, "closing the connection to libvirt at " + options_.uri + ": " + std::string(why));
  std::vector<ConnectionObserver*> observers = observers_;
  for (ConnectionObserver* o : observers) o->disconnected(conn_.get());
  if (closeCallback_) virConnectUnregisterCloseCallback(conn_.get(), onClose);
  closeCallback_ = false;
  conn_.reset();
}

// libvirt calls this from its event dispatch with the connection still in use: close it later.
void LibvirtConnection::onClose(virConnectPtr, int reason, void* opaque) {
  auto* self = static_cast<LibvirtConnection*>(opaque);
  if (self->closing_ != nullptr) return;
  self->closing_ = runOnce(self->context_, 0, [self, reason] {
    g_source_unref(std::exchange(self->closing_, nullptr));
    self->closeConnection(LogLevel::kWarning, closeReason(reason));
    self->scheduleRetry();
  });
}

}  // namespace virtscratch::daemon::libvirt
