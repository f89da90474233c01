// Discard in the Service: what an Allocate settles (the spec's key, else [pool] discard, and never
// for a preallocated image), the refusal of discard with preallocation, the record that keeps it,
// and a reload that changes the default. With the fake engine; the guest's
// fstrim giving space back is the end-to-end tests' (tests/e2e/discard_test.cpp).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "base/unique_fd.h"
#include "daemon/record_file.h"
#include "tests/unit/daemon/service_fixture.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kMiB;
using ::virtscratch::test::fileExists;
using ::virtscratch::test::TempDir;

using ServiceDiscardTest = ServiceTest;

TEST_F(ServiceDiscardTest, TheSpecDecidesElseThePoolsDefault) {
  startService();
  EXPECT_TRUE(service->poolStatus().discard);
  auto plain = allocate(request(kDomainA, 64 * kMiB, "vdb"));
  ASSERT_TRUE(plain.ok()) << plain.status().message();
  EXPECT_TRUE(plain->discard);

  AllocateRequest off = request(kDomainA, 64 * kMiB, "vdc");
  off.spec.discard = false;
  auto kept = allocate(off);
  ASSERT_TRUE(kept.ok()) << kept.status().message();
  EXPECT_FALSE(kept->discard);

  Config ignore = baseConfig();
  ignore.poolDiscard = false;
  ASSERT_TRUE(service->reconfigure(ignore).ok());
  EXPECT_FALSE(service->poolStatus().discard);
  auto byDefault = allocate(request(kDomainA, 64 * kMiB, "vdd"));
  ASSERT_TRUE(byDefault.ok()) << byDefault.status().message();
  EXPECT_FALSE(byDefault->discard);
  AllocateRequest on = request(kDomainA, 64 * kMiB, "vde");
  on.spec.discard = true;
  auto asked = allocate(on);
  ASSERT_TRUE(asked.ok()) << asked.status().message();
  EXPECT_TRUE(asked->discard);
}

TEST_F(ServiceDiscardTest, APreallocatedImageNeverDiscardsAndAskingForBothIsRefused) {
  startService();
  AllocateRequest full = request(kDomainA, 64 * kMiB, "vdb");
  full.spec.image.preallocation = image::Preallocation::kFalloc;
  auto made = allocate(full);
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_FALSE(made->discard);

  AllocateRequest both = request(kDomainA, 64 * kMiB, "vdc");
  both.spec.image.preallocation = image::Preallocation::kFull;
  both.spec.discard = true;
  size_t calls = fakeEngine.calls().size();
  auto refused = allocate(both);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("'discard'"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("'full'"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(fakeEngine.calls().size(), calls) << "a refused Allocate asked the engine for work";
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA + "/vdc.raw"));
}

TEST(RecordFileDiscard, KeepsTheSettingAndReadsOldRecordsAsAnAllocateWouldSettleThem) {
  TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  StoredRecord in;
  in.record.domainUuid = "6f1b2c3d-0000-4000-8000-00000000abcd";
  in.record.target = "vdb";
  in.record.spec.size = 64 * kMiB;
  in.record.discard = false;
  ASSERT_TRUE(writeRecordAt(fd.get(), in).ok());
  auto out = readRecordAt(fd.get(), "vdb.record", "vdb.record");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_FALSE(out->record.discard);

  std::string text = serializeRecord(in);
  size_t at = text.find("discard=ignore\n");
  ASSERT_NE(at, std::string::npos) << text;
  std::string old = text;
  old.erase(at, 15);
  auto sparse = parseRecord(old, "x");
  ASSERT_TRUE(sparse.ok()) << sparse.status().message();
  EXPECT_TRUE(sparse->record.discard);
  in.record.spec.preallocation = image::Preallocation::kFull;
  old = serializeRecord(in);
  old.erase(old.find("discard=ignore\n"), 15);
  auto preallocated = parseRecord(old, "x");
  ASSERT_TRUE(preallocated.ok()) << preallocated.status().message();
  EXPECT_FALSE(preallocated->record.discard);

  auto bad = parseRecord(std::string(text).replace(at, 15, "discard=yes\n"), "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'yes'"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace virtscratch::daemon::fake
