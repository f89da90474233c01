#include "daemon/dbus/bus_errors.h"

#include "daemon/log.h"

namespace virtscratch::daemon::bus {

std::string errorName(ErrorCode code) {
  // The same names the client library maps back (client/bus_error.cpp): one per ErrorCode.
  std::string_view kind =
      code == ErrorCode::kOk ? errorCodeName(ErrorCode::kFailed) : errorCodeName(code);
  return std::string(kErrorPrefix) + std::string(kind);
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
