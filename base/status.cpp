#include "base/status.h"

#include <cerrno>
#include <cstring>

namespace virtscratch {

std::string_view errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "Ok";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kAlreadyExists:
      return "AlreadyExists";
    case ErrorCode::kNoSpace:
      return "NoSpace";
    case ErrorCode::kQuotaExceeded:
      return "QuotaExceeded";
    case ErrorCode::kAccessDenied:
      return "AccessDenied";
    case ErrorCode::kBusy:
      return "Busy";
    case ErrorCode::kCancelled:
      return "Cancelled";
    case ErrorCode::kFailed:
      return "Failed";
  }
  return "Failed";
}

Status Status::withContext(std::string_view context) const {
  if (ok()) return *this;
  std::string message(context);
  message += ": ";
  message += message_;
  return {code_, std::move(message)};
}

Status errnoStatus(std::string_view what, int err) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  ErrorCode code = ErrorCode::kFailed;
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      code = ErrorCode::kNoSpace;
      break;
    case ENOENT:
      code = ErrorCode::kNotFound;
      break;
    case EEXIST:
      code = ErrorCode::kAlreadyExists;
      break;
    case EACCES:
    case EPERM:
      code = ErrorCode::kAccessDenied;
      break;
    case EINTR:
      code = ErrorCode::kCancelled;
      break;
    default:
      break;
  }
  return {code, std::move(message)};
}

std::string elided(std::string_view text, size_t keep) {
  if (text.size() <= 3 * keep) return std::string(text);
  auto continuation = [&text](size_t i) {
    return (static_cast<unsigned char>(text[i]) & 0xc0) == 0x80;
  };
  size_t head = keep, tail = text.size() - keep;
  while (head > 0 && continuation(head)) --head;
  while (tail < text.size() && continuation(tail)) ++tail;
  return std::string(text.substr(0, head)) + " [... " + std::to_string(tail - head) +
         " bytes left out ...] " + std::string(text.substr(tail));
}

}  // namespace virtscratch
