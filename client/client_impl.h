// ScratchClient's state: the connection and the deadline every call is held to. Internal to the
// client library; same thread rules as ScratchClient.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <memory>
#include <utility>

#include "client/bus_error.h"
#include "client/scratch_client.h"

namespace virtscratch::client {

struct ScratchClient::Impl {
  std::unique_ptr<sdbus::IConnection> connection;
  ConnectOptions options;

  // Gives the next call its timeout: the per-call one, or what is left of the deadline.
  Status armTimeout();

  // Runs `body` after arming the timeout, turning a thrown sdbus::Error into its Status.
  template <typename F>
  auto call(F&& body) -> decltype(body()) {
    try {
      VS_RETURN_IF_ERROR(armTimeout());
      return body();
    } catch (const sdbus::Error& e) {
      return statusFromBusError(e.getName(), e.getMessage());
    }
  }
};

}  // namespace virtscratch::client
