// Whether a caller may read or search a file, decided as the kernel decides it for a process with
// the caller's uid and groups (fs/posix_acl.c, posix_acl_permission; generic_permission): the
// POSIX access ACL when the file has one, else the permission bits. The daemon runs as root and
// opens content for the caller, so it must not let the kernel decide for root. Any thread.
//
// The ACL is read from the system.posix_acl_access xattr and parsed here (the kernel's stable
// format, include/uapi/linux/posix_acl_xattr.h) rather than through libacl: the format is a
// header and a list of 8-byte entries, parsing it is shorter than wrapping acl_t in RAII, and it
// adds no build dependency. NFSv4 and other non-POSIX ACLs are not read (the bits then decide).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace virtscratch::daemon {

inline constexpr unsigned kMayRead = 4;
inline constexpr unsigned kMaySearch = 1;

struct AclEntry {
  uint16_t tag = 0;  // ACL_USER_OBJ 0x01, ACL_USER 0x02, ACL_GROUP_OBJ 0x04, ACL_GROUP 0x08,
                     // ACL_MASK 0x10, ACL_OTHER 0x20
  uint16_t perm = 0;
  uint32_t id = 0;  // uid or gid for ACL_USER and ACL_GROUP
};

// The entries of a system.posix_acl_access value. kInvalidArgument for a value that is not
// version 2 or not a whole number of entries.
Result<std::vector<AclEntry>> parsePosixAcl(std::string_view xattr);

// Whether uid, in `groups`, has every bit of `want` on a file of `st` with `acl` (empty: no ACL,
// the bits of st_mode decide). uid 0 may read and search everything, as with CAP_DAC_OVERRIDE.
bool permits(uid_t uid, const std::vector<gid_t>& groups, const struct stat& st,
             const std::vector<AclEntry>& acl, unsigned want);

// The same for the open file `fd` (not an O_PATH descriptor), reading its ACL. kFailed when the
// ACL cannot be read or parsed: an unreadable ACL never grants.
Result<bool> permitsFd(uid_t uid, const std::vector<gid_t>& groups, int fd, const struct stat& st,
                       unsigned want);

}  // namespace virtscratch::daemon
