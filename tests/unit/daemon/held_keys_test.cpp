// The keys the daemon holds in its memory to decrypt exports: kept until dropped, replaced by a
// newer key under the same secret UUID, and a failed put forgets only its own key, never one put
// under the same UUID after it.
#include <gtest/gtest.h>

#include <string>

#include "daemon/secret_store.h"

namespace virtscratch::daemon {
namespace {

TEST(HeldKeys, KeepsAKeyUntilItIsForgotten) {
  HeldKeys keys;
  keys.keep("uuid-a", "first");
  auto found = keys.find("uuid-a");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, "first");
  keys.forget("uuid-a");
  auto gone = keys.find("uuid-a");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(gone.status().message().find("restarted"), std::string::npos);
}

TEST(HeldKeys, AFailedPutForgetsItsOwnKeyAndNotALaterOne) {
  HeldKeys keys;
  uint64_t first = keys.keep("uuid-a", "first");
  uint64_t second = keys.keep("uuid-a", "second");
  keys.forgetKept("uuid-a", first);  // the first put failed after the second was made
  auto found = keys.find("uuid-a");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, "second");
  keys.forgetKept("uuid-a", second);
  EXPECT_FALSE(keys.has("uuid-a"));
}

}  // namespace
}  // namespace virtscratch::daemon
