// A pool that two hosts mount ([pool] shared = yes): two Services over one directory stand for
// virt-scratchd on host-a and on host-b. Each recovers only its own images, the owner's lock keeps
// a second daemon off an image, and a migration's destination adopts the image the source lets
// go instead of making one; a migration that does not finish leaves the source's image alone.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "daemon/config.h"
#include "image/size.h"
#include "tests/unit/daemon/service_fixture.h"
#include "vocabulary/image_id.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kMiB;
using ::virtscratch::test::fileExists;
using ::virtscratch::test::readFile;

class SharedPoolTest : public ServiceTest {
 protected:
  Config shared(const std::string& host) const {
    Config c = baseConfig();
    c.poolShared = true;
    c.poolHost = host;
    return c;
  }

  // virt-scratchd on another host of the same pool.
  std::unique_ptr<Service> startOther(const std::string& host, FakeListener& heard,
                                      std::string* report = nullptr) {
    auto other = std::make_unique<Service>(shared(host), loop, heard, resolver, engine());
    auto started = other->start();
    EXPECT_TRUE(started.ok()) << started.status().message();
    if (started.ok() && report != nullptr) *report = *started;
    return other;
  }

  static AllocateRequest incomingOf(const ImageRecord& made) {
    AllocateRequest r = request(kDomainA, made.spec.size);
    r.spec.image.format = made.spec.format;
    r.spec.lifetime = made.lifetime;
    r.spec.incoming = true;
    return r;
  }

  std::string domainFile(const std::string& name) const {
    return dir.file("pool/") + kDomainA + "/" + name;
  }

  void restartHostA() {
    stopService(service);
    startService(shared("host-a"));
  }

  // host-a's daemon with one image of kDomainA (vdb, 64 MiB), then host-b's beside it.
  ImageRecord twoHostsWithOneImage(vocabulary::Lifetime lifetime = vocabulary::Lifetime::kBoot) {
    startService(shared("host-a"));
    AllocateRequest local = request(kDomainA, 64 * kMiB);
    local.spec.lifetime = lifetime;
    auto made = allocate(local);
    EXPECT_TRUE(made.ok()) << made.status().message();
    hostB = startOther("host-b", heardB);
    return made.ok() ? *made : ImageRecord{};
  }

  void TearDown() override {
    if (hostB) stopService(hostB);
    ServiceTest::TearDown();
  }

  FakeListener heardB;
  std::unique_ptr<Service> hostB;
};

TEST_F(SharedPoolTest, EachHostRecoversOnlyItsOwnImagesAndRecordsNameTheOwner) {
  startService(shared("host-a"));
  auto made = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_NE(readFile(domainFile("vdb.record")).find("host=host-a"), std::string::npos);

  std::string report;
  hostB = startOther("host-b", heardB, &report);
  EXPECT_TRUE(hostB->images().empty()) << "host-b took host-a's image";
  EXPECT_NE(report.find("1 image of other hosts"), std::string::npos) << report;
  EXPECT_TRUE(fileExists(made->path));
  // A restart of host-a's daemon takes it back.
  restartHostA();
  EXPECT_NE(service->findImage(made->id), nullptr) << startReport;
}

TEST_F(SharedPoolTest, TheOwnersLockKeepsASecondDaemonOffTheImage) {
  startService(shared("host-a"));
  auto made = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(made.ok()) << made.status().message();
  // The same host's name twice (a copy of its configuration elsewhere): the lock decides.
  FakeListener heard;
  std::string report;
  auto second = startOther("host-a", heard, &report);
  EXPECT_TRUE(second->images().empty()) << "two daemons own " << made->id;
  EXPECT_NE(report.find("held by another virt-scratchd"), std::string::npos) << report;
  EXPECT_TRUE(fileExists(made->path));
  stopService(second);
}

TEST_F(SharedPoolTest, TheDestinationAdoptsTheImageTheSourceLetsGo) {
  ImageRecord made = twoHostsWithOneImage(vocabulary::Lifetime::kDomain);
  size_t engineCalls = fakeEngine.calls().size();
  // migrate begin on host-b: the image is there already, and is neither made nor overwritten.
  auto incoming = allocateOn(*hostB, incomingOf(made));
  ASSERT_TRUE(incoming.ok()) << incoming.status().message();
  EXPECT_EQ(incoming->path, made.path);
  EXPECT_EQ(fakeEngine.calls().size(), engineCalls) << "host-b made an image";
  EXPECT_EQ(readFile(domainFile("vdb.adopt")), "host-b\n");

  // The domain runs on host-b: host-a still holds the image, so host-b waits for it.
  hostB->settleIncoming(kDomainA);
  EXPECT_TRUE(hostB->findImage(made.id) != nullptr);
  // The domain has left host-a (libvirt's STOPPED, reason migrated): host-a lets go.
  EXPECT_EQ(service->releaseByLifetime(kDomainA, {vocabulary::Lifetime::kDomain}, "domain-migrated",
                                       service->claimMark()),
            1u);
  EXPECT_EQ(service->findImage(made.id), nullptr);
  ASSERT_FALSE(listener.removed.empty());
  EXPECT_EQ(listener.removed.back().second, "handed-over");
  EXPECT_TRUE(fileExists(made.path)) << "host-a deleted the image it handed over";

  EXPECT_EQ(loop.fireTimers(), 1u) << "host-b did not try again";
  std::string record = readFile(domainFile("vdb.record"));
  EXPECT_NE(record.find("host=host-b"), std::string::npos) << record;
  EXPECT_EQ(record.find("incoming"), std::string::npos) << record;
  EXPECT_FALSE(fileExists(domainFile("vdb.adopt")));
  const ImageRecord* adopted = hostB->findImage(made.id);
  ASSERT_NE(adopted, nullptr);
  EXPECT_FALSE(adopted->incoming);

  // host-b owns it now: host-a's restart leaves it, host-b's release deletes it.
  restartHostA();
  EXPECT_EQ(service->findImage(made.id), nullptr) << startReport;
  ASSERT_TRUE(hostB->releaseImage({}, made.id).ok());
  EXPECT_FALSE(fileExists(made.path));
  EXPECT_FALSE(fileExists(domainFile("vdb.record")));
}

TEST_F(SharedPoolTest, AMigrationThatDoesNotFinishLeavesTheSourcesImageAlone) {
  ImageRecord made = twoHostsWithOneImage();
  ASSERT_TRUE(allocateOn(*hostB, incomingOf(made)).ok());

  // Cancelled: the domain turns up stopped on host-b; host-b forgets the image, deletes nothing.
  EXPECT_EQ(hostB->releaseIncoming(kDomainA, "domain-migrated", hostB->claimMark()), 1u);
  EXPECT_TRUE(hostB->images().empty());
  ASSERT_FALSE(heardB.removed.empty());
  EXPECT_EQ(heardB.removed.back().second, "not-adopted");
  EXPECT_TRUE(fileExists(made.path));
  EXPECT_FALSE(fileExists(domainFile("vdb.adopt")));
  EXPECT_NE(readFile(domainFile("vdb.record")).find("host=host-a"), std::string::npos);

  // Still host-a's: its own stop deletes it.
  EXPECT_EQ(service->releaseByLifetime(kDomainA, {vocabulary::Lifetime::kBoot}, "domain-stopped",
                                       service->claimMark()),
            1u);
  EXPECT_FALSE(fileExists(made.path));
}

TEST_F(SharedPoolTest, AnAdoptionWaitsAsLongAsTheSourceHoldsTheImage) {
  ImageRecord made = twoHostsWithOneImage();
  ASSERT_TRUE(allocateOn(*hostB, incomingOf(made)).ok());
  hostB->settleIncoming(kDomainA);
  // Past the first minute of attempts (240), on to the slower ones: host-b never gives the image
  // up (the domain runs there), and host-a keeps it whole.
  for (int i = 0; i < 300; ++i) ASSERT_EQ(loop.fireTimers(), 1u) << "attempt " << i;
  const ImageRecord* waiting = hostB->findImage(made.id);
  ASSERT_NE(waiting, nullptr);
  EXPECT_TRUE(waiting->adopting);
  EXPECT_EQ(readFile(domainFile("vdb.adopt")), "host-b\n");
  EXPECT_NE(service->findImage(made.id), nullptr);
  EXPECT_NE(readFile(domainFile("vdb.record")).find("host=host-a"), std::string::npos);
  // host-a lets go at last (its domain left): the next attempt takes it.
  EXPECT_EQ(service->releaseByLifetime(kDomainA, {vocabulary::Lifetime::kBoot}, "domain-migrated",
                                       service->claimMark()),
            1u);
  loop.fireTimers();
  EXPECT_NE(readFile(domainFile("vdb.record")).find("host=host-b"), std::string::npos);
  EXPECT_FALSE(hostB->findImage(made.id)->adopting);
}

TEST_F(SharedPoolTest, RestartsInTheMiddleOfAnAdoptionLoseNothing) {
  ImageRecord made = twoHostsWithOneImage();
  ASSERT_TRUE(allocateOn(*hostB, incomingOf(made)).ok());
  // host-b restarts before the domain runs there: the adoption goes on.
  stopService(hostB);
  std::string report;
  hostB = startOther("host-b", heardB, &report);
  const ImageRecord* again = hostB->findImage(made.id);
  ASSERT_NE(again, nullptr) << report;
  EXPECT_TRUE(again->adopting);
  EXPECT_TRUE(again->incoming);
  // host-a restarts: the marker says host-b adopts it, so host-a neither takes nor deletes it.
  restartHostA();
  EXPECT_EQ(service->findImage(made.id), nullptr) << startReport;
  EXPECT_NE(startReport.find("being adopted by host host-b"), std::string::npos) << startReport;
  EXPECT_TRUE(fileExists(made.path));
  hostB->settleIncoming(kDomainA);
  EXPECT_NE(readFile(domainFile("vdb.record")).find("host=host-b"), std::string::npos);
  EXPECT_FALSE(fileExists(domainFile("vdb.adopt")));
}

TEST_F(SharedPoolTest, AnIncomingImageThatDisagreesWithTheSharedOneIsRefusedNamingBoth) {
  ImageRecord made = twoHostsWithOneImage();
  AllocateRequest bigger = incomingOf(made);
  bigger.spec.image.size = 128 * kMiB;
  auto refused = allocateOn(*hostB, bigger);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("64 MiB"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("128 MiB"), std::string::npos)
      << refused.status().message();
  EXPECT_TRUE(hostB->images().empty());
  EXPECT_FALSE(fileExists(domainFile("vdb.adopt")));
}

}  // namespace
}  // namespace virtscratch::daemon::fake
