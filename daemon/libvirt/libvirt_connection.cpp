#include "daemon/libvirt/libvirt_connection.h"

#include <libvirt/virterror.h>

#include <algorithm>
#include <functional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

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

// Shared by the loop and the connecting thread; `abandoned` is read and written on the loop only.
struct LibvirtConnection::Attempt {
  bool abandoned = false;
};

LibvirtConnection::~LibvirtConnection() {
  // An open still in flight finds it abandoned when it comes back, and closes what it opened.
  if (attempt_) attempt_->abandoned = true;
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
  if (!conn_ && retry_ == nullptr && !attempt_) tryConnect();
}

void LibvirtConnection::tryConnect() {
  cancel(retry_);
  if (conn_ || attempt_) return;
  auto attempt = std::make_shared<Attempt>();
  attempt_ = attempt;
  GMainContext* context = g_main_context_ref(context_);
  // Detached: a libvirtd that never answers must not hold up the daemon's stop. What the thread
  // touches is its own copies, libvirt (thread-safe) and the context, which it keeps a reference
  // to; `this` is used only back on the loop, and only while the attempt is not abandoned.
  auto open = [this, attempt, context, options = options_] {
    std::vector<std::string> notes;
    Status error;
    ConnectPtr conn(virConnectOpen(options.uri.c_str()));
    if (!conn) {
      error = libvirtError("cannot connect to libvirt at " + options.uri);
    } else if (virConnectSetKeepAlive(conn.get(), options.keepAliveIntervalS,
                                      options.keepAliveCount) < 0) {
      // Only remote connections (libvirtd) have keepalive; in-process drivers say unsupported.
      notes.push_back(libvirtError("no keepalive on " + options.uri).message());
    }
    GSource* back = runOnce(context, 0, [this, attempt, raw = conn.release(), error, notes] {
      ConnectPtr opened(raw);
      if (attempt->abandoned) return;  // the connection object is gone: `opened` closes
      adopt(std::move(opened), error, notes);
    });
    g_source_unref(back);
    g_main_context_unref(context);
  };
  try {
    std::thread(std::move(open)).detach();
  } catch (const std::system_error& e) {  // no thread to be had (TasksMax, memory)
    g_main_context_unref(context);
    attempt_.reset();
    logLine(LogLevel::kWarning, "cannot start a thread to connect to libvirt at " + options_.uri +
                                    ": " + e.what() + "; trying again in " +
                                    std::to_string(nextRetryMs_) + " ms");
    scheduleRetry();
  }
}

void LibvirtConnection::adopt(ConnectPtr conn, const Status& error,
                              const std::vector<std::string>& notes) {
  attempt_.reset();
  if (!conn) {
    logLine(LogLevel::kWarning,
            error.message() + "; trying again in " + std::to_string(nextRetryMs_) + " ms");
    scheduleRetry();
    return;
  }
  for (const std::string& note : notes) logLine(LogLevel::kDebug, note);
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
