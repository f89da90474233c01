// ScratchClient's state: the connection and the deadline every call is held to. Internal to the
// client library; same thread rules as ScratchClient.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "client/bus_connection.h"
#include "client/message_reader.h"
#include "client/scratch_client.h"

namespace virtscratch::client {

struct ScratchClient::Impl {
  BusConnection bus;
  ConnectOptions options;

  // The next call's timeout: the per-call one, or what is left of the deadline.
  Result<uint64_t> timeoutUs() const;
  // Calls `method` on `path` with the arguments `append` writes, and returns the reply, whose
  // signature is the method's.
  Result<MessagePtr> call(const BusMethod& method, std::string_view path,
                          const std::function<Status(sd_bus_message*)>& append = {});
  // Properties.GetAll of `interface` on `path`, and Properties.Get of one.
  Result<PropertyMap> properties(std::string_view path, const std::string& interface);
  // `answeredBy`, when given, gets the unique name of the connection that answered.
  Status property(std::string_view path, const std::string& interface, const std::string& name,
                  PropertyValue& out, std::string* answeredBy = nullptr);
};

}  // namespace virtscratch::client
