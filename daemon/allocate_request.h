// Allocate's checks that need no state of the pool: the domain, the target, the size rules, the
// spec, the content directory. The result is a plan the Allocator carries out. Loop thread (the
// DomainResolver is asked synchronously).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "daemon/access.h"
#include "daemon/config.h"
#include "daemon/image_record.h"
#include "daemon/service.h"
#include "image/spec.h"

namespace virtscratch::daemon {

struct AllocationPlan {
  std::string id;
  DomainId domain;  // uuid in lower case
  std::string target;
  vocabulary::Lifetime lifetime = vocabulary::Lifetime::kBoot;
  image::ImageSpec spec;  // as asked, with the size worked out and no content directory
  std::shared_ptr<OpenedContent> content;  // when content was asked for
  std::string filesystemUuid;              // the one asked for, or a fresh random one
  uint64_t expectedAllocation = 0;         // host bytes the new image will take, roughly
  // An incoming migration's image: made empty, never from a template; `spec` and `lifetime` are
  // recorded as asked and filesystemUuid stays empty (it is the source's, unknown here).
  bool incoming = false;
  bool discard = true;  // vocabulary::discardOf the spec's, [pool] discard and the preallocation
};

Result<AllocationPlan> planAllocation(const AllocateRequest& request, const Config& config,
                                      DomainResolver& resolver, const ContentRoots& roots);

// A domain given by a caller: a UUID or a name, checked and resolved. kInvalidArgument for text
// that cannot be either (empty, not UTF-8, control characters, '/').
Result<DomainId> resolveDomain(std::string_view domain, DomainResolver& resolver);

// `spec` with nothing written into it: no partition table, filesystem, label, UUID or content
// (what an incoming migration's image is made as).
image::ImageSpec emptyImageOf(const image::ImageSpec& spec);

// Host bytes an image of `spec` occupies when new: the metadata for sparse images, the whole
// size when preallocated.
uint64_t expectedAllocation(const image::ImageSpec& spec);

}  // namespace virtscratch::daemon
