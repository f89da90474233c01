// The one boundary between errors as values and the bus. Each ErrorCode has one D-Bus error
// name (org.virtscratch.Scratch1.Error.*). Every adaptor method and property getter runs its
// body through busCall(), which turns a Status error into that named error and any exception
// other than sdbus::Error into Failed: sdbus-c++ 1.2.0 only catches sdbus::Error in callbacks,
// so anything else escaping would end the daemon. Loop thread only.
#pragma once

#include <sdbus-c++/Error.h>
#include <sdbus-c++/MethodResult.h>

#include <exception>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "base/status.h"
#include "vocabulary/bus_names.h"

namespace virtscratch::daemon::bus {

// The names on the bus, which the client library shares (vocabulary/bus_names.h).
using vocabulary::imageIdOf;
using vocabulary::imagePath;
using vocabulary::jobPath;
using vocabulary::kBusName;
using vocabulary::kErrorPrefix;
using vocabulary::kImagePathPrefix;
using vocabulary::kManagerPath;

// "org.virtscratch.Scratch1.Error.NotFound" for kNotFound; kOk has no name (Failed is used).
std::string errorName(ErrorCode code);
sdbus::Error toBusError(const Status& status);
// The error for an exception that is not an sdbus::Error: Failed, naming the member; logged.
sdbus::Error unexpectedError(std::string_view member, std::exception_ptr error);

template <typename T>
struct IsResult : std::false_type {};
template <typename T>
struct IsResult<Result<T>> : std::true_type {};

// Runs `body` for the bus member `member`. `body` returns a Status (the call returns nothing),
// a Result<T> (the call returns T) or a plain value.
template <typename F>
auto busCall(std::string_view member, F&& body) {
  using R = std::invoke_result_t<F>;
  try {
    if constexpr (std::is_same_v<R, Status>) {
      Status status = body();
      if (!status.ok()) throw toBusError(status);
    } else if constexpr (IsResult<R>::value) {
      R result = body();
      if (!result.ok()) throw toBusError(result.status());
      return std::move(result).value();
    } else {
      return body();
    }
  } catch (const sdbus::Error&) {
    throw;
  } catch (...) {
    throw unexpectedError(member, std::current_exception());
  }
}

// For asynchronous methods: runs `body`, which must answer `result` itself (now or later from
// the loop thread); if it fails before answering, the error is sent as the reply.
template <typename Reply, typename F>
void busCallAsync(std::string_view member, Reply& result, F&& body) {
  try {
    busCall(member, std::forward<F>(body));
  } catch (const sdbus::Error& error) {
    try {
      result.returnError(error);
    } catch (...) {
      (void)unexpectedError(member, std::current_exception());
    }
  }
}

// Answer an asynchronous call later, from the loop (outside sdbus-c++'s dispatch): they never
// throw; a reply that cannot be sent (the caller left) is logged.
template <typename Reply, typename... Values>
void replyValue(std::string_view member, const Reply& result, const Values&... values) {
  try {
    result.returnResults(values...);
  } catch (...) {
    (void)unexpectedError(member, std::current_exception());
  }
}
template <typename Reply>
void replyError(std::string_view member, const Reply& result, const Status& status) {
  try {
    result.returnError(toBusError(status));
  } catch (...) {
    (void)unexpectedError(member, std::current_exception());
  }
}

}  // namespace virtscratch::daemon::bus
