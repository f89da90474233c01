// The pieces of the bus layer's authorization that need no bus: reading the caller from
// GetConnectionCredentials' answer, and what polkit's answers and failures mean.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "daemon/dbus/authorizer.h"
#include "daemon/dbus/caller.h"
#include "daemon/dbus/polkit_authority.h"

namespace virtscratch::daemon::bus {
namespace {

using Credentials = std::map<std::string, sdbus::Variant>;

TEST(CallerFromCredentials, TakesTheUidAndEveryGroupTheBusReports) {
  Credentials creds = {{"UnixUserID", sdbus::Variant(uint32_t{1001})},
                       {"UnixGroupIDs", sdbus::Variant(std::vector<uint32_t>{65534, 108, 4})},
                       {"ProcessID", sdbus::Variant(uint32_t{42})}};
  auto caller = callerFromCredentials(":1.7", creds);
  ASSERT_TRUE(caller.ok()) << caller.status().message();
  EXPECT_EQ(caller->uid, 1001u);
  EXPECT_EQ(caller->groups, (std::vector<gid_t>{65534, 108, 4}));
  EXPECT_EQ(caller->sender, ":1.7");
}

TEST(CallerFromCredentials, RefusesACallerWithoutAUidNamingIt) {
  for (const Credentials& creds :
       {Credentials{}, Credentials{{"UnixUserID", sdbus::Variant(std::string("0"))}}}) {
    auto caller = callerFromCredentials(":1.9", creds);
    ASSERT_FALSE(caller.ok());
    EXPECT_EQ(caller.status().code(), ErrorCode::kAccessDenied);
    EXPECT_NE(caller.status().message().find(":1.9"), std::string::npos);
  }
}

TEST(CallerFromCredentials, HasNoGroupsWhenTheBusReportsNone) {
  auto caller = callerFromCredentials(":1.3", {{"UnixUserID", sdbus::Variant(uint32_t{5})}});
  ASSERT_TRUE(caller.ok());
  EXPECT_TRUE(caller->groups.empty());
}

TEST(PolkitDecision, AllowsOnlyWhatPolkitAuthorized) {
  EXPECT_TRUE(polkitDecision("org.virtscratch.scratch1.allocate", 1001, true, false).ok());
  Status denied = polkitDecision("org.virtscratch.scratch1.export", 1001, false, false);
  EXPECT_EQ(denied.code(), ErrorCode::kAccessDenied);
  EXPECT_NE(denied.message().find("uid 1001 is not authorized by polkit for "
                                  "org.virtscratch.scratch1.export"),
            std::string::npos)
      << denied.message();
  Status challenge = polkitDecision("org.virtscratch.scratch1.release", 1001, false, true);
  EXPECT_EQ(challenge.code(), ErrorCode::kAccessDenied);
  EXPECT_NE(challenge.message().find("administrator authentication"), std::string::npos)
      << challenge.message();
}

TEST(PolkitCallFailed, SaysPolkitIsNotRunningWhenItsNameHasNoOwner) {
  for (const char* name :
       {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"}) {
    Status s = polkitCallFailed("org.virtscratch.scratch1.cancel", 1001, name, "no");
    EXPECT_EQ(s.code(), ErrorCode::kAccessDenied);
    EXPECT_NE(s.message().find("polkit is not running"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("org.virtscratch.scratch1.cancel"), std::string::npos);
  }
  Status other = polkitCallFailed("org.virtscratch.scratch1.cancel", 1001,
                                  "org.freedesktop.DBus.Error.NoReply", "timed out");
  EXPECT_EQ(other.code(), ErrorCode::kAccessDenied);
  EXPECT_NE(other.message().find("NoReply: timed out"), std::string::npos) << other.message();
}

TEST(ActionId, NamesTheActionsOfThePolicyFile) {
  EXPECT_EQ(actionId(Action::kAllocate), "org.virtscratch.scratch1.allocate");
  EXPECT_EQ(actionId(Action::kRelease), "org.virtscratch.scratch1.release");
  EXPECT_EQ(actionId(Action::kExport), "org.virtscratch.scratch1.export");
  EXPECT_EQ(actionId(Action::kCancel), "org.virtscratch.scratch1.cancel");
}

}  // namespace
}  // namespace virtscratch::daemon::bus
