// What the daemon knows of one scratch image. Persisted as a small record file beside the image
// (written to a temporary name, fsynced, renamed), so the pool survives crashes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "image/spec.h"
#include "vocabulary/lifetime.h"

namespace virtscratch::daemon {

enum class ImageState { kCreating, kReady, kAttached, kReleasing };

std::string_view toString(ImageState state);

struct ImageRecord {
  std::string id;          // vocabulary::imageIdOf(domainUuid, target)
  std::string domainUuid;  // lower-case RFC 4122 form
  std::string domainName;  // empty when unknown
  std::string target;      // guest device name (vocabulary::validateTarget), e.g. "vdb"
  std::string path;        // vocabulary::imagePath(pool, domainUuid, target, spec.format)
  image::ImageSpec spec;   // spec.size is the virtual size; contentDir not kept
  std::string filesystemUuid;
  vocabulary::Lifetime lifetime = vocabulary::Lifetime::kBoot;
  ImageState state = ImageState::kCreating;
  uint64_t createdUs = 0;  // µs since the epoch
  // Made empty for an incoming migration (AllocationPlan::incoming) and not yet run on this host:
  // the watcher settles it (false) when the domain runs here, and releases it when the domain
  // turns up stopped (an offline migration brings the definition, never the data). Recorded.
  bool incoming = false;
  // Whether its <disk> gives freed blocks back (vocabulary/discard.h), as the Allocate settled
  // it; the watcher hot-plugs it so. Recorded.
  bool discard = true;
  // In a shared pool (daemon/shared_pool.h): the host that owns the image; empty in a pool of
  // one host's own. Recorded.
  std::string host;
  // In memory only: the image of an incoming migration that another host owns in a shared pool;
  // this daemon takes it over (its lock, then its record) once the domain runs here, and lets it
  // go, untouched, if the domain does not.
  bool adopting = false;
  // In memory only: the pool's count of claims when an Allocate last made or returned the image
  // (Pool::claim). A domain event releases only images claimed before it was seen, so an event
  // of an earlier run never takes the disk of the run that follows.
  uint64_t claim = 0;
};

}  // namespace virtscratch::daemon
