// Who sent a method call: the uid and groups the bus reports for the sender's connection
// (org.freedesktop.DBus.GetConnectionCredentials; dbus-daemon answers from the socket's peer
// credentials, SO_PEERCRED and SO_PEERGROUPS, so the caller cannot pretend and the user
// database is never asked). Asked with an asynchronous call: the loop does not wait for the bus.
// Loop thread only.
#pragma once

#include <sdbus-c++/IConnection.h>
#include <sdbus-c++/IProxy.h>
#include <sdbus-c++/Types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "base/status.h"
#include "daemon/service.h"

namespace virtscratch::daemon::bus {

// The Caller from GetConnectionCredentials' answer; kAccessDenied when it has no UnixUserID.
Result<Caller> callerFromCredentials(const std::string& sender,
                                     const std::map<std::string, sdbus::Variant>& credentials);

class CredentialsQuery {
 public:
  explicit CredentialsQuery(sdbus::IConnection& connection);
  ~CredentialsQuery();
  CredentialsQuery(const CredentialsQuery&) = delete;
  CredentialsQuery& operator=(const CredentialsQuery&) = delete;

  // `done` runs once on the loop thread: later with the caller, or kAccessDenied when the
  // sender cannot be identified (it has left the bus); at once when the question cannot be sent.
  void query(const std::string& sender, std::function<void(Result<Caller>)> done);

 private:
  std::unique_ptr<sdbus::IProxy> busDriver_;
};

}  // namespace virtscratch::daemon::bus
