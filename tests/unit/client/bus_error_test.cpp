// The client library's error mapping, without a bus: every daemon error name back to its
// ErrorCode with the daemon's message, names a newer daemon may add, and the bus's own errors
// as sentences that say what to do.
#include "client/bus_error.h"

#include <gtest/gtest.h>

#include <string>

#include "vocabulary/bus_names.h"

namespace virtscratch::client {
namespace {

std::string daemonName(ErrorCode code) {
  return std::string(vocabulary::kErrorPrefix) + std::string(errorCodeName(code));
}

TEST(BusError, MapsEveryDaemonErrorNameBackToItsCodeAndMessage) {
  for (ErrorCode code : kErrorCodes) {
    std::string name = daemonName(code);
    Status status = statusFromBusError(name, "size '0' is too small");
    EXPECT_EQ(status.code(), code) << name;
    EXPECT_EQ(status.message(), "size '0' is too small") << name;
  }
}

TEST(BusError, EveryCodeHasADistinctName) {
  for (ErrorCode a : kErrorCodes) {
    for (ErrorCode b : kErrorCodes) {
      if (a != b) {
        EXPECT_NE(daemonName(a), daemonName(b));
      }
    }
  }
}

TEST(BusError, KeepsANameANewerDaemonAddedAsAFailureNamingIt) {
  std::string name = std::string(vocabulary::kErrorPrefix) + "Migrating";
  Status status = statusFromBusError(name, "the image is being moved");
  EXPECT_EQ(status.code(), ErrorCode::kFailed);
  EXPECT_NE(status.message().find(name), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("the image is being moved"), std::string::npos);
}

TEST(BusError, SaysHowToStartTheDaemonWhenItIsNotRunning) {
  for (const char* name :
       {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"}) {
    Status status = statusFromBusError(name, "The name is not activatable");
    EXPECT_EQ(status.code(), ErrorCode::kFailed) << name;
    EXPECT_NE(status.message().find("systemctl start virt-scratchd"), std::string::npos)
        << status.message();
  }
}

TEST(BusError, TellsATimeoutFromADaemonThatStoppedBeforeAnswering) {
  Status timeout = statusFromBusError("org.freedesktop.DBus.Error.NoReply", "Connection timed out");
  EXPECT_NE(timeout.message().find("did not answer in time"), std::string::npos)
      << timeout.message();
  Status gone =
      statusFromBusError("org.freedesktop.DBus.Error.NoReply", "Remote peer disconnected");
  EXPECT_NE(gone.message().find("virt-scratch list"), std::string::npos) << gone.message();
}

TEST(BusError, MapsAPolicyDenialAndAMissingObjectToTheirCodes) {
  EXPECT_EQ(statusFromBusError("org.freedesktop.DBus.Error.AccessDenied", "Rejected").code(),
            ErrorCode::kAccessDenied);
  EXPECT_EQ(statusFromBusError("org.freedesktop.DBus.Error.UnknownObject", "/x").code(),
            ErrorCode::kNotFound);
}

TEST(BusError, NamesAnyOtherErrorInItsMessage) {
  Status status = statusFromBusError("com.example.Odd", "something odd");
  EXPECT_EQ(status.code(), ErrorCode::kFailed);
  EXPECT_EQ(status.message(), "com.example.Odd: something odd");
}

}  // namespace
}  // namespace virtscratch::client
