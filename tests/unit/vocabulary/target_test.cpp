// The target rule, once for the metadata reader, enable/disable and the daemon.
#include "vocabulary/target.h"

#include <gtest/gtest.h>

#include <string>

namespace virtscratch::vocabulary {
namespace {

TEST(Target, AcceptsLowerCaseDeviceNames) {
  for (const char* good : {"vdb", "sda1", "a", "z9", "abcdefghijklmnop"}) {
    EXPECT_TRUE(validateTarget(good).ok()) << good;
    EXPECT_EQ(targetProblem(good), "") << good;
  }
}

TEST(Target, RefusesEachBadTargetNamingTheValueAndTheProblem) {
  struct Case {
    std::string target;
    std::string message;  // in the message
  };
  for (const Case& c : {
           Case{"", "target '' is empty"},
           Case{"abcdefghijklmnopq", "target 'abcdefghijklmnopq' is longer than 16 characters"},
           Case{"1vd", "target '1vd' does not start with a letter"},
           Case{"VDB", "target 'VDB' does not start with a letter"},
           Case{"vDB", "target 'vDB' has a character other than a-z and 0-9"},
           Case{"vd/b", "target 'vd/b' has a character"},
           Case{"..", "target '..' does not start with a letter"},
           Case{"vdb.qcow2", "target 'vdb.qcow2' has a character"},
           Case{"vd-b", "target 'vd-b' has a character"},
           Case{"vd_b", "target 'vd_b' has a character"},
           Case{"vd b", "target 'vd b' has a character"},
       }) {
    Status s = validateTarget(c.target);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument) << c.target;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(kTargetRule), std::string::npos) << s.message();
    EXPECT_NE(targetProblem(c.target), "") << c.target;
  }
}

TEST(Target, ShowsControlCharactersAndNonAsciiAsQuestionMarks) {
  Status s = validateTarget("vd\nb\xff");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("target 'vd?b?'"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
}

}  // namespace
}  // namespace virtscratch::vocabulary
