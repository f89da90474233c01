// How long a scratch image lives: boot: removed when the VM stops; domain: kept until the VM is
// undefined; manual: until released. The names are those of the Allocate spec, the metadata's
// lifetime='' and the Image.Lifetime property. Pure functions, any thread.
#pragma once

#include <string_view>

#include "base/status.h"

namespace virtscratch::vocabulary {

enum class Lifetime { kBoot, kDomain, kManual };

// kInvalidArgument naming `name` and the three names that are known.
Result<Lifetime> parseLifetime(std::string_view name);
std::string_view toString(Lifetime lifetime);

}  // namespace virtscratch::vocabulary
