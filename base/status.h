// Errors as values. Every fallible engine and daemon function returns a Status or a Result<T>;
// nothing in the core throws. Each ErrorCode maps to exactly one D-Bus error name in the bus
// layer, and every message names the value that was wrong and, where it helps, what to do next.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace virtscratch {

// The project's error codes, one per D-Bus error name. The engine (image/) returns only
// kInvalidArgument, kNotFound, kAlreadyExists, kNoSpace, kBusy, kCancelled and kFailed; quota and
// access are the daemon's (layering_tests checks that image/ never names them).
enum class ErrorCode {
  kOk,
  kInvalidArgument,  // the caller's input is wrong; retrying the same call cannot succeed
  kNotFound,
  kAlreadyExists,
  kNoSpace,
  kQuotaExceeded,
  kAccessDenied,
  kBusy,
  kCancelled,
  kFailed,  // anything else: an I/O error, a tool that failed, a corrupt file
};

// Every error code (all but kOk), for tables that must name each one.
inline constexpr ErrorCode kErrorCodes[] = {
    ErrorCode::kInvalidArgument,
    ErrorCode::kNotFound,
    ErrorCode::kAlreadyExists,
    ErrorCode::kNoSpace,
    ErrorCode::kQuotaExceeded,
    ErrorCode::kAccessDenied,
    ErrorCode::kBusy,
    ErrorCode::kCancelled,
    ErrorCode::kFailed,
};

std::string_view errorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // The same error with "context: " put in front of the message.
  Status withContext(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status invalidArgument(std::string message) {
  return {ErrorCode::kInvalidArgument, std::move(message)};
}
inline Status failed(std::string message) { return {ErrorCode::kFailed, std::move(message)}; }

// The error of a failed system call: "what: strerror(err)". ENOSPC and EDQUOT become kNoSpace.
Status errnoStatus(std::string_view what, int err);

// `text` to quote in a message: past 3 * `keep` bytes its middle is left out, keeping about
// `keep` bytes at each end (cut between UTF-8 characters), the start naming what is wrong and
// the end often what to do, so that a hostile value of megabytes cannot drown the message.
std::string elided(std::string_view text, size_t keep);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace virtscratch

#define VS_CONCAT_INNER(a, b) a##b
#define VS_CONCAT(a, b) VS_CONCAT_INNER(a, b)

// Returns the Status of `expr` from the enclosing function when it is not ok.
#define VS_RETURN_IF_ERROR(expr)               \
  do {                                         \
    ::virtscratch::Status vs_status_ = (expr); \
    if (!vs_status_.ok()) return vs_status_;   \
  } while (false)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define VS_ASSIGN_OR_RETURN(lhs, expr) \
  VS_ASSIGN_OR_RETURN_IMPL(VS_CONCAT(vs_result_, __LINE__), lhs, expr)
#define VS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
