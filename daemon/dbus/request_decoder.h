// Decodes the a{sv} dictionaries of Allocate, Export and the releases into the Service's requests.
// Only the shape is checked here (known keys, their D-Bus types, names the engine parses); the
// Service validates the values. Unknown keys and wrong types are kInvalidArgument naming the key.
// D-Bus strings are valid UTF-8 already: the bus refuses anything else.
#pragma once

#include <sdbus-c++/Types.h>

#include <map>
#include <string>

#include "base/status.h"
#include "daemon/service.h"

namespace virtscratch::daemon::bus {

using VariantMap = std::map<std::string, sdbus::Variant>;

Result<AllocateRequest> decodeAllocateRequest(std::string domain, const VariantMap& spec);

// Fills level and threads; the destination comes from the method's own argument.
Result<ExportParams> decodeExportOptions(UniqueFd output, const VariantMap& options);

// Image.Release's options: force.
Result<ReleaseOptions> decodeReleaseOptions(const VariantMap& options);
// ReleaseDomain's options: force, and lifetime (s or as: the lifetimes to release).
Result<ReleaseOptions> decodeReleaseDomainOptions(const VariantMap& options);

}  // namespace virtscratch::daemon::bus
