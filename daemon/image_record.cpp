#include "daemon/image_record.h"

namespace virtscratch::daemon {

std::string_view toString(ImageState state) {
  switch (state) {
    case ImageState::kCreating:
      return "creating";
    case ImageState::kReady:
      return "ready";
    case ImageState::kAttached:
      return "attached";
    case ImageState::kReleasing:
      return "releasing";
  }
  return "?";
}

}  // namespace virtscratch::daemon
