#include "daemon/file_permission.h"

#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace virtscratch::daemon {
namespace {

constexpr uint32_t kAclVersion = 2;
constexpr size_t kMaxXattrSize = 65536;  // XATTR_SIZE_MAX
constexpr uint16_t kUserObj = 0x01;
constexpr uint16_t kUser = 0x02;
constexpr uint16_t kGroupObj = 0x04;
constexpr uint16_t kGroup = 0x08;
constexpr uint16_t kMask = 0x10;
constexpr uint16_t kOther = 0x20;

uint32_t littleEndian(std::string_view bytes) {
  uint32_t value = 0;
  for (size_t i = bytes.size(); i > 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[i - 1]);
  }
  return value;
}

bool has(unsigned perm, unsigned want) { return (perm & want) == want; }

bool inGroups(const std::vector<gid_t>& groups, gid_t gid) {
  return std::find(groups.begin(), groups.end(), gid) != groups.end();
}

bool permitsByBits(uid_t uid, const std::vector<gid_t>& groups, const struct stat& st,
                   unsigned want) {
  unsigned mode = st.st_mode;
  if (st.st_uid == uid) return has((mode >> 6) & 7, want);
  if (inGroups(groups, st.st_gid)) return has((mode >> 3) & 7, want);
  return has(mode & 7, want);
}

// posix_acl_permission: the owner's entry, else a named user's (masked), else the first group
// entry that matches and grants (masked; when groups match and none grants, denied), else other.
bool permitsByAcl(uid_t uid, const std::vector<gid_t>& groups, const struct stat& st,
                  const std::vector<AclEntry>& acl, unsigned want) {
  unsigned mask = 7;
  for (const AclEntry& e : acl) {
    if (e.tag == kMask) mask = e.perm;
  }
  bool groupMatched = false;
  for (const AclEntry& e : acl) {
    switch (e.tag) {
      case kUserObj:
        if (st.st_uid == uid) return has(e.perm, want);
        break;
      case kUser:
        if (e.id == uid) return has(e.perm & mask, want);
        break;
      case kGroupObj:
      case kGroup: {
        gid_t gid = e.tag == kGroupObj ? st.st_gid : static_cast<gid_t>(e.id);
        if (inGroups(groups, gid)) {
          groupMatched = true;
          if (has(e.perm, want)) return has(e.perm & mask, want);
        }
        break;
      }
      case kOther:
        return !groupMatched && has(e.perm, want);
      default:
        break;
    }
  }
  return false;
}

}  // namespace

Result<std::vector<AclEntry>> parsePosixAcl(std::string_view xattr) {
  if (xattr.size() < 4 || (xattr.size() - 4) % 8 != 0) {
    return invalidArgument("an ACL of " + std::to_string(xattr.size()) +
                           " bytes is not a header and whole entries");
  }
  uint32_t version = littleEndian(xattr.substr(0, 4));
  if (version != kAclVersion) {
    return invalidArgument("ACL version " + std::to_string(version) + " is not 2");
  }
  std::vector<AclEntry> entries;
  for (size_t at = 4; at < xattr.size(); at += 8) {
    AclEntry e;
    e.tag = static_cast<uint16_t>(littleEndian(xattr.substr(at, 2)));
    e.perm = static_cast<uint16_t>(littleEndian(xattr.substr(at + 2, 2)));
    e.id = littleEndian(xattr.substr(at + 4, 4));
    entries.push_back(e);
  }
  return entries;
}

bool permits(uid_t uid, const std::vector<gid_t>& groups, const struct stat& st,
             const std::vector<AclEntry>& acl, unsigned want) {
  if (uid == 0) return true;
  if (acl.empty()) return permitsByBits(uid, groups, st, want);
  return permitsByAcl(uid, groups, st, acl, want);
}

Result<bool> permitsFd(uid_t uid, const std::vector<gid_t>& groups, int fd, const struct stat& st,
                       unsigned want) {
  if (uid == 0) return true;
  std::string value(256, '\0');
  while (true) {
    ssize_t n = fgetxattr(fd, "system.posix_acl_access", value.data(), value.size());
    if (n >= 0) {
      value.resize(static_cast<size_t>(n));
      break;
    }
    if (errno == ENODATA || errno == ENOTSUP) return permits(uid, groups, st, {}, want);
    if (errno != ERANGE || value.size() >= kMaxXattrSize) {
      return errnoStatus("read the ACL", errno);
    }
    value.resize(value.size() * 4);
  }
  VS_ASSIGN_OR_RETURN(std::vector<AclEntry> acl, parsePosixAcl(value));
  return permits(uid, groups, st, acl, want);
}

}  // namespace virtscratch::daemon
