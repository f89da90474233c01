// UTF-8 as D-Bus and QEMU's secrets demand it: no NUL, no overlong forms, no surrogates, nothing
// past U+10FFFF. Pure function, any thread.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace virtscratch {

// The offset of the first byte that does not begin a valid character, or nothing.
std::optional<size_t> firstInvalidUtf8(std::string_view value);

}  // namespace virtscratch
