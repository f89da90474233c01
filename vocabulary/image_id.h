// The id of a scratch image: "<domain uuid without dashes>_<target>", e.g.
// "6f1b2c3d000040008000000000000abcd_vdb". One image per domain and target, so it is unique; it
// holds only [a-z0-9_], so it is safe as the last element of a D-Bus object path. The daemon
// names images with it, `disable` finds the images it releases with it. Pure, any thread.
#pragma once

#include <string>
#include <string_view>

namespace virtscratch::vocabulary {

// `domainUuid` in the normalised (lower-case) form, `target` valid (validateTarget).
std::string imageIdOf(std::string_view domainUuid, std::string_view target);

}  // namespace virtscratch::vocabulary
