// libvirt domain UUIDs as the scratch vocabulary uses them: the pool's directory names, the
// first half of image ids, the key of every request. Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

namespace virtscratch::vocabulary {

// 8-4-4-4-12 hexadecimal digits, in either case, as libvirt writes a domain UUID.
bool isUuid(std::string_view text);

// A UUID in the form normaliseUuid gives: what the pool's directories and records hold.
bool isNormalisedUuid(std::string_view text);

// The lower-case form used everywhere (pool directories, image ids, bus properties), so that a
// UUID written in capitals names the same domain. `uuid` should satisfy isUuid; other text is
// lower-cased all the same.
std::string normaliseUuid(std::string_view uuid);

}  // namespace virtscratch::vocabulary
