// Escaping text for XML attribute values and element content written by hand (disk elements,
// scratch metadata): the five predefined entities, and tabs and line breaks as character
// references so that attribute values keep them.
#pragma once

#include <string>
#include <string_view>

namespace virtscratch::vocabulary {

std::string escapeXml(std::string_view text);

}  // namespace virtscratch::vocabulary
