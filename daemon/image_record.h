// What the daemon knows of one scratch image. Persisted as a small record file beside the image
// (written to a temporary name, fsynced, renamed), so the pool survives crashes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "image/spec.h"
#include "base/status.h"
#include "vocabulary/lifetime.h"

namespace virtscratch::daemon {

using vocabulary::Lifetime;
using vocabulary::parseLifetime;
using vocabulary::toString;

enum class ImageState { kCreating, kReady, kAttached, kReleasing };

std::string_view toString(ImageState state);

struct ImageRecord {
  // "<domain uuid without dashes>_<target>": unique, and safe in a D-Bus object path.
  std::string id;
  std::string domainUuid;  // lower-case RFC 4122 form
  std::string domainName;  // empty when unknown
  std::string target;      // guest device name, [a-z0-9] only, e.g. "vdb"
  std::string path;        // <pool>/<domain uuid>/<target>.<format>
  image::ImageSpec spec;   // spec.size is the virtual size; contentDir not kept
  std::string filesystemUuid;
  Lifetime lifetime = Lifetime::kBoot;
  ImageState state = ImageState::kCreating;
  uint64_t createdUs = 0;  // µs since the epoch
};

// Checks a target name: 1..16 characters of [a-z0-9], starting with a letter.
Status validateTarget(std::string_view target);

}  // namespace virtscratch::daemon
