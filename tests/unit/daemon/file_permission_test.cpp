// The caller's rights as the kernel decides them: permission bits, and POSIX access ACLs with
// their mask. The same cases on real files with setfacl, through the daemon:
// tests/integration/daemon/daemon_content_access_test.cpp.
#include "daemon/file_permission.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace virtscratch::daemon {
namespace {

constexpr uint16_t kUserObj = 0x01, kUser = 0x02, kGroupObj = 0x04, kGroup = 0x08, kMask = 0x10,
                   kOther = 0x20;

struct stat fileOf(uid_t uid, gid_t gid, mode_t mode) {
  struct stat st {};
  st.st_uid = uid;
  st.st_gid = gid;
  st.st_mode = S_IFREG | mode;
  return st;
}

std::string xattrOf(const std::vector<AclEntry>& entries, uint32_t version = 2) {
  std::string out;
  auto put = [&](uint32_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  put(version, 4);
  for (const AclEntry& e : entries) {
    put(e.tag, 2);
    put(e.perm, 2);
    put(e.id, 4);
  }
  return out;
}

TEST(FilePermission, ReadsThePermissionBitsAsOwnerElseGroupElseOther) {
  struct stat st = fileOf(1000, 100, 0604);
  EXPECT_TRUE(permits(1000, {1000}, st, {}, kMayRead));
  EXPECT_FALSE(permits(1001, {100}, st, {}, kMayRead));  // the group class has no read
  EXPECT_TRUE(permits(1001, {1001}, st, {}, kMayRead));  // other has
  EXPECT_FALSE(permits(1000, {1000}, fileOf(1000, 100, 0044), {}, kMayRead));  // owner: no
}

TEST(FilePermission, LetsRootReadEverything) {
  EXPECT_TRUE(permits(0, {}, fileOf(1000, 100, 0), {}, kMayRead | kMaySearch));
}

TEST(FilePermission, ParsesTheKernelsAclFormat) {
  std::vector<AclEntry> in = {{kUserObj, 6, 0xffffffff}, {kUser, 4, 65534}, {kMask, 4, 0}};
  auto parsed = parsePosixAcl(xattrOf(in));
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[1].tag, kUser);
  EXPECT_EQ((*parsed)[1].perm, 4);
  EXPECT_EQ((*parsed)[1].id, 65534u);
}

TEST(FilePermission, RefusesAclsOfAnotherVersionOrWithHalfEntries) {
  auto badVersion = parsePosixAcl(xattrOf({{kUserObj, 6, 0}}, 1));
  EXPECT_EQ(badVersion.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(badVersion.status().message().find("version 1"), std::string::npos);
  std::string half = xattrOf({{kUserObj, 6, 0}}) + "abc";
  EXPECT_EQ(parsePosixAcl(half).status().code(), ErrorCode::kInvalidArgument);
}

TEST(FilePermission, GrantsANamedUserThroughTheMask) {
  struct stat st = fileOf(0, 0, 0640);  // with an ACL the group bits are the mask
  std::vector<AclEntry> acl = {
      {kUserObj, 6, 0}, {kUser, 4, 65534}, {kGroupObj, 0, 0}, {kMask, 4, 0}, {kOther, 0, 0}};
  EXPECT_TRUE(permits(65534, {65534}, st, acl, kMayRead));
  acl[3].perm = 0;  // setfacl -m m::---
  EXPECT_FALSE(permits(65534, {65534}, st, acl, kMayRead));
}

TEST(FilePermission, DeniesTheOwningGroupItsEntryDeniesThoughTheModeShowsTheMask) {
  // setfacl -m g::---,u:1234:r on root:4242 0640: st_mode still says group r (the mask).
  struct stat st = fileOf(0, 4242, 0640);
  std::vector<AclEntry> acl = {
      {kUserObj, 6, 0}, {kUser, 4, 1234}, {kGroupObj, 0, 0}, {kMask, 4, 0}, {kOther, 0, 0}};
  EXPECT_FALSE(permits(65534, {65534, 4242}, st, acl, kMayRead));
  EXPECT_TRUE(permits(65534, {65534, 4242}, st, {}, kMayRead));  // the bits alone would grant
}

TEST(FilePermission, DeniesAMatchingGroupOtherWouldGrant) {
  // A caller in a group that matches is judged by the group class only, as the kernel does.
  struct stat st = fileOf(0, 4242, 0604);
  std::vector<AclEntry> acl = {
      {kUserObj, 6, 0}, {kGroupObj, 0, 0}, {kGroup, 0, 77}, {kMask, 0, 0}, {kOther, 4, 0}};
  EXPECT_FALSE(permits(65534, {77}, st, acl, kMayRead));
  EXPECT_TRUE(permits(65534, {78}, st, acl, kMayRead));
}

TEST(FilePermission, GrantsTheFirstGroupEntryThatGrantsWithinTheMask) {
  struct stat st = fileOf(0, 4242, 0650);
  std::vector<AclEntry> acl = {
      {kUserObj, 6, 0}, {kGroupObj, 0, 0}, {kGroup, 5, 77}, {kMask, 5, 0}, {kOther, 0, 0}};
  EXPECT_TRUE(permits(65534, {4242, 77}, st, acl, kMayRead | kMaySearch));
  acl[3].perm = 1;  // the mask leaves search only
  EXPECT_FALSE(permits(65534, {4242, 77}, st, acl, kMayRead));
  EXPECT_TRUE(permits(65534, {4242, 77}, st, acl, kMaySearch));
}

}  // namespace
}  // namespace virtscratch::daemon
