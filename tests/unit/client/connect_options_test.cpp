// ConnectOptions a caller can get wrong are refused before any connection is made.
#include <gtest/gtest.h>

#include "client/scratch_client.h"

namespace virtscratch::client {
namespace {

TEST(ConnectOptions, ACallTimeoutOfZeroOrLessIsRefusedNamingIt) {
  for (auto timeout : {std::chrono::microseconds(0), std::chrono::microseconds(-5)}) {
    ConnectOptions options;
    options.callTimeout = timeout;
    auto made = ScratchClient::connect(options);
    ASSERT_FALSE(made.ok());
    EXPECT_EQ(made.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(made.status().message(), "the call timeout must be more than zero, not " +
                                           std::to_string(timeout.count()) + " us");
  }
}

}  // namespace
}  // namespace virtscratch::client
