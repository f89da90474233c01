// Whether a scratch disk gives the blocks its guest frees back to the host. On, its <disk> element
// carries discard='unmap' and detect_zeroes='unmap': a guest's fstrim (or a filesystem mounted
// with -o discard) punches holes in the image file, and zeroes written are not stored. The
// metadata says it with libvirt's own words, discard='unmap' or discard='ignore'; the Allocate
// spec with the boolean key `discard`. Pure functions, any thread.
#pragma once

#include <optional>
#include <string_view>

#include "base/status.h"
#include "image/spec.h"

namespace virtscratch::vocabulary {

// "unmap" is true, "ignore" false; kInvalidArgument naming anything else.
Result<bool> parseDiscard(std::string_view name);
std::string_view discardName(bool discard);

// What a disk gets: off when the image is preallocated (discarding would give back the space
// preallocation reserved), else what was asked, else the host's default ([pool] discard).
bool discardOf(std::optional<bool> asked, bool hostDefault, image::Preallocation preallocation);

}  // namespace virtscratch::vocabulary
