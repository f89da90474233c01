// Identifiers the pool is built on: libvirt domain UUIDs (the names of the pool's directories),
// image ids (safe in D-Bus object paths) and random filesystem UUIDs given to new images. Pure
// functions, callable from any thread.
#pragma once

#include <string>
#include <string_view>

#include "image/spec.h"

namespace virtscratch::daemon {

// 8-4-4-4-12 hexadecimal digits, in either case.
bool isUuid(std::string_view text);

// The lower-case form the pool uses for directory names. `uuid` must satisfy isUuid.
std::string normaliseUuid(std::string_view uuid);

// "<domain uuid without dashes>_<target>".
std::string imageIdOf(std::string_view domainUuid, std::string_view target);

// A fresh random UUID in the form `fs` takes: XXXX-XXXX for vfat, RFC 4122 version 4 for the
// others; empty for Filesystem::kNone.
std::string randomFilesystemUuid(image::Filesystem fs);

}  // namespace virtscratch::daemon
