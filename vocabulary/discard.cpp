#include "vocabulary/discard.h"

#include <string>

namespace virtscratch::vocabulary {

Result<bool> parseDiscard(std::string_view name) {
  if (name == "unmap") return true;
  if (name == "ignore") return false;
  return invalidArgument("unknown discard '" + std::string(name) + "' (known: unmap, ignore)");
}

std::string_view discardName(bool discard) { return discard ? "unmap" : "ignore"; }

bool discardOf(std::optional<bool> asked, bool hostDefault, image::Preallocation preallocation) {
  if (preallocation != image::Preallocation::kOff) return false;
  return asked.value_or(hostDefault);
}

}  // namespace virtscratch::vocabulary
