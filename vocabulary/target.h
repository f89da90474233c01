// A scratch disk's target: the guest device name (<target dev='vdb'/>), which also names the
// image's file in the pool and is part of the image id. The one rule for it, used by the metadata
// reader, `virt-scratch enable`/`disable` and the daemon's Allocate and record reader. Pure, any
// thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "base/status.h"

namespace virtscratch::vocabulary {

inline constexpr size_t kMaxTargetLength = 16;

// The rule, for messages.
inline constexpr std::string_view kTargetRule =
    "a target is 1 to 16 of a-z and 0-9, starting with a letter, for example vdb";

// 1 to 16 of [a-z0-9], starting with a letter: no dot, slash or capital, so that a target is
// safe as a file name and in a D-Bus object path. kInvalidArgument naming the value (control
// characters and non-ASCII bytes shown as '?'), what is wrong with it and the rule:
// "target 'VDB' does not start with a letter (a target is 1 to 16 of a-z and 0-9, ...)".
Status validateTarget(std::string_view target);

// What is wrong with `target` ("is empty", "does not start with a letter", ...); empty when it
// is a valid target. For callers that name the value their own way, as the metadata reader does
// (target='VDB'), with kTargetRule after it.
std::string_view targetProblem(std::string_view target);

}  // namespace virtscratch::vocabulary
