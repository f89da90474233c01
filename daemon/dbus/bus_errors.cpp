#include "daemon/dbus/bus_errors.h"

#include "daemon/log.h"

namespace virtscratch::daemon::bus {

std::string errorName(ErrorCode code) {
  const char* suffix = "Failed";
  switch (code) {
    case ErrorCode::kInvalidArgument:
      suffix = "InvalidArgument";
      break;
    case ErrorCode::kNotFound:
      suffix = "NotFound";
      break;
    case ErrorCode::kAlreadyExists:
      suffix = "AlreadyExists";
      break;
    case ErrorCode::kNoSpace:
      suffix = "NoSpace";
      break;
    case ErrorCode::kQuotaExceeded:
      suffix = "QuotaExceeded";
      break;
    case ErrorCode::kAccessDenied:
      suffix = "AccessDenied";
      break;
    case ErrorCode::kBusy:
      suffix = "Busy";
      break;
    case ErrorCode::kCancelled:
      suffix = "Cancelled";
      break;
    case ErrorCode::kOk:
    case ErrorCode::kFailed:
      suffix = "Failed";
      break;
  }
  return std::string(kErrorPrefix) + suffix;
}

sdbus::Error toBusError(const Status& status) {
  return sdbus::Error(errorName(status.code()), status.message());
}

sdbus::Error unexpectedError(std::string_view member, std::exception_ptr error) {
  std::string what = "unknown exception";
  LogLevel level = LogLevel::kError;
  try {
    std::rethrow_exception(error);
  } catch (const sdbus::Error& e) {
    what = e.getName() + ": " + e.getMessage();
    // A reply or signal that cannot go out because the bus connection is gone: the bus source
    // has reported the loss once already, and the daemon is on its way out.
    if (e.getName() == "System.Error.ENOTCONN") level = LogLevel::kDebug;
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  std::string message = "internal error in " + std::string(member) + ": " + what;
  logLine(level, message);
  return sdbus::Error(errorName(ErrorCode::kFailed), message);
}

}  // namespace virtscratch::daemon::bus
