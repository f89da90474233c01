#include "client/utf8.h"

#include <string>

#include "base/utf8.h"

namespace virtscratch::client {

Status requireUtf8(std::string_view what, std::string_view value) {
  if (auto bad = firstInvalidUtf8(value)) {
    return invalidArgument(std::string(what) + " is not valid UTF-8 (byte " + std::to_string(*bad) +
                           "); the bus carries only UTF-8 text");
  }
  return {};
}

}  // namespace virtscratch::client
