// The members of org.virtscratch.Scratch1 the client library calls, with the D-Bus signatures it
// writes and reads: the client speaks sd-bus directly (the hook starts on every domain start, and
// a generated sdbus-c++ proxy costs it a library and a round trip), so this table is what a
// generated proxy would have checked. A unit test holds it to dbus/org.virtscratch.Scratch1.xml.
// Constants only, any thread.
#pragma once

#include <array>
#include <string_view>

#include "vocabulary/bus_names.h"

namespace virtscratch::client {

struct BusMethod {
  std::string_view interface;
  std::string_view member;
  std::string_view in;   // the arguments' signature
  std::string_view out;  // the reply's signature
};

inline constexpr BusMethod kAllocate{vocabulary::kManagerInterface, "Allocate", "sa{sv}", "os"};
inline constexpr BusMethod kReleaseDomain{vocabulary::kManagerInterface, "ReleaseDomain", "sa{sv}",
                                          "u"};
inline constexpr BusMethod kExport{vocabulary::kManagerInterface, "Export", "oha{sv}", "o"};
inline constexpr BusMethod kMetrics{vocabulary::kManagerInterface, "Metrics", "", "s"};
inline constexpr BusMethod kRelease{vocabulary::kImageInterface, "Release", "a{sv}", ""};
inline constexpr BusMethod kOpenKey{vocabulary::kImageInterface, "OpenKey", "", "h"};
inline constexpr BusMethod kCancel{vocabulary::kJobInterface, "Cancel", "", ""};

inline constexpr std::array kClientMethods{kAllocate, kReleaseDomain, kExport, kMetrics,
                                           kRelease,  kOpenKey,       kCancel};

// The properties the client reads, with the type it reads them as.
struct BusProperty {
  std::string_view interface;
  std::string_view name;
  char type;
};

inline constexpr std::array kClientProperties{
    BusProperty{vocabulary::kManagerInterface, "InterfaceVersion", 'u'},
    BusProperty{vocabulary::kManagerInterface, "Version", 's'},
    BusProperty{vocabulary::kManagerInterface, "PoolPath", 's'},
    BusProperty{vocabulary::kManagerInterface, "PoolQuota", 't'},
    BusProperty{vocabulary::kManagerInterface, "PoolUsed", 't'},
    BusProperty{vocabulary::kManagerInterface, "PoolFree", 't'},
    BusProperty{vocabulary::kManagerInterface, "ImageCount", 'u'},
    BusProperty{vocabulary::kManagerInterface, "PoolTemplateBytes", 't'},
    BusProperty{vocabulary::kManagerInterface, "DefaultEncryption", 's'},
    BusProperty{vocabulary::kManagerInterface, "DefaultDiscard", 's'},
    BusProperty{vocabulary::kManagerInterface, "PoolAllocated", 't'},
    BusProperty{vocabulary::kManagerInterface, "PoolQuotaAllocated", 't'},
    BusProperty{vocabulary::kManagerInterface, "PoolHighWater", 't'},
    BusProperty{vocabulary::kManagerInterface, "SpaceState", 's'},
    BusProperty{vocabulary::kImageInterface, "Id", 's'},
    BusProperty{vocabulary::kImageInterface, "Path", 's'},
    BusProperty{vocabulary::kImageInterface, "Domain", 's'},
    BusProperty{vocabulary::kImageInterface, "DomainName", 's'},
    BusProperty{vocabulary::kImageInterface, "Target", 's'},
    BusProperty{vocabulary::kImageInterface, "State", 's'},
    BusProperty{vocabulary::kImageInterface, "Lifetime", 's'},
    BusProperty{vocabulary::kImageInterface, "Encryption", 's'},
    BusProperty{vocabulary::kImageInterface, "Format", 's'},
    BusProperty{vocabulary::kImageInterface, "Filesystem", 's'},
    BusProperty{vocabulary::kImageInterface, "Label", 's'},
    BusProperty{vocabulary::kImageInterface, "FilesystemUuid", 's'},
    BusProperty{vocabulary::kImageInterface, "VirtualSize", 't'},
    BusProperty{vocabulary::kImageInterface, "AllocatedSize", 't'},
    BusProperty{vocabulary::kImageInterface, "Created", 't'},
    BusProperty{vocabulary::kJobInterface, "Progress", 'd'},
};

}  // namespace virtscratch::client
