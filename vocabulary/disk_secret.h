// The libvirt secret that holds an encrypted scratch disk's passphrase. Its UUID is derived from
// the domain UUID and the target, so that `virt-scratch enable` can write the disk's
// <encryption> element once, before any key exists, and every key the daemon makes for that disk
// later (one per image) is found under the same UUID. Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

namespace virtscratch::vocabulary {

// A version 8 (RFC 9562, name-based with SHA-256) UUID, lower case, from "virt-scratch secret",
// the domain UUID and the target.
std::string secretUuidOf(std::string_view domainUuid, std::string_view target);

// <secret ephemeral=... private='yes'> with the UUID, a description and usage type 'volume' for
// the image's path. Private: libvirt never gives the value back over its API. Ephemeral: kept only
// in libvirtd's memory, never written to its disk.
std::string secretXml(std::string_view uuid, std::string_view imagePath, bool ephemeral,
                      std::string_view description);

}  // namespace virtscratch::vocabulary
