// The libvirt watcher, resolver and event loop against libvirt's test driver in this process:
// domains are defined, started, destroyed and undefined through the API on the test's own
// connection, the GLib loop turns until the pool shows the expected state, and the images are
// checked on disk with blkid. Hot-plugging itself (the test driver has no live attach) and
// reconnecting to a restarted libvirtd are covered by the end-to-end tests.
#include "daemon/libvirt/lifecycle_watcher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_resolver.h"
#include "daemon/service.h"
#include "tests/support/test_util.h"
#include "tests/unit/daemon/fakes.h"
#include "tests/unit/daemon/libvirt_fixture.h"
#include "vocabulary/image_id.h"

namespace virtscratch::daemon::libvirt {
namespace {

using testing::drainReady;
using testing::spinUntil;
using ::virtscratch::test::fileExists;

constexpr const char* kWeb = "0d3c2e8a-5f4b-4c6d-9e7f-101112131415";
constexpr const char* kDb = "1d3c2e8a-5f4b-4c6d-9e7f-101112131415";
constexpr const char* kGone = "2d3c2e8a-5f4b-4c6d-9e7f-101112131415";

std::string scratchDisk(const std::string& target, const std::string& lifetime,
                        const std::string& attach) {
  return "<scratch:disk target='" + target +
         "' size='16M' format='raw' filesystem='ext4' label='scratch' lifetime='" + lifetime +
         "' attach='" + attach + "'/>";
}

std::string domainXml(const std::string& name, const std::string& uuid, const std::string& disks,
                      const std::string& devices = "") {
  return "<domain type='test'><name>" + name + "</name><uuid>" + uuid +
         "</uuid><metadata><scratch:disks xmlns:scratch='http://virtscratch.org/xmlns/scratch/"
         "1.0'>" +
         disks +
         "</scratch:disks></metadata><memory>65536</memory><vcpu>2</vcpu><os><type>hvm</type>"
         "</os><devices>" +
         devices + "</devices></domain>";
}

std::string bootDiskDevice(const std::string& path, const std::string& target) {
  return "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" + path +
         "'/><target dev='" + target + "' bus='virtio'/><serial>scratch-" + target +
         "</serial></disk>";
}

// The watcher's way back to the loop, which a test can close: what the worker hands back while it
// is held waits, in order, until it is opened.
class GateInvoker final : public LoopInvoker {
 public:
  explicit GateInvoker(LoopInvoker& loop) : loop_(loop) {}
  void post(std::function<void()> fn) override {
    std::lock_guard lock(mutex_);
    if (held_) {
      queued_.push_back(std::move(fn));
    } else {
      forward(std::move(fn));
    }
  }
  void hold() {
    std::lock_guard lock(mutex_);
    held_ = true;
  }
  void open() {
    std::lock_guard lock(mutex_);
    held_ = false;
    for (auto& fn : queued_) forward(std::move(fn));
    queued_.clear();
  }
  size_t waiting() {
    std::lock_guard lock(mutex_);
    return queued_.size();
  }
  size_t ran() const { return ran_.load(); }

 private:
  void forward(std::function<void()> fn) {
    loop_.post([this, fn = std::move(fn)] {
      fn();
      ++ran_;
    });
  }
  LoopInvoker& loop_;
  std::mutex mutex_;
  bool held_ = false;
  std::vector<std::function<void()>> queued_;
  std::atomic<size_t> ran_{0};
};

class LifecycleWatcherTest : public testing::ServiceOnTestDriver {
 protected:
  void SetUp() override { start(dir.file("pool")); }

  void TearDown() override {
    watcher.reset();  // before the Service it calls
    ServiceOnTestDriver::TearDown();
  }

  DomainPtr define(const std::string& xml) {
    DomainPtr dom(virDomainDefineXML(driver.get(), xml.c_str()));
    EXPECT_TRUE(dom) << libvirtError("define").message();
    return dom;
  }

  void startWatching() {
    watcher = std::make_unique<LifecycleWatcher>(*service, *connection, gate);
    ASSERT_NO_FATAL_FAILURE(connect());
  }

  bool has(const std::string& uuid, const std::string& target) const {
    return service->findImage(vocabulary::imageIdOf(uuid, target)) != nullptr;
  }

  std::string removalReason(const std::string& uuid, const std::string& target) const {
    for (const auto& [record, reason] : listener.removed) {
      if (record.id == vocabulary::imageIdOf(uuid, target)) return reason;
    }
    return "";
  }

  GateInvoker gate{invoker};
  std::unique_ptr<LifecycleWatcher> watcher;
};

TEST_F(LifecycleWatcherTest, StoppedDomainLosesItsBootImagesAndUndefinedOneTheRest) {
  DomainPtr dom = define(domainXml(
      "web", kWeb, scratchDisk("vdb", "boot", "boot") + scratchDisk("vdc", "domain", "boot")));
  ASSERT_TRUE(dom);
  startWatching();
  ImageRecord boot = allocate(kWeb, "vdb", vocabulary::Lifetime::kBoot);
  ImageRecord kept = allocate(kWeb, "vdc", vocabulary::Lifetime::kDomain);
  ASSERT_EQ(virDomainCreate(dom.get()), 0) << libvirtError("start").message();
  ASSERT_EQ(virDomainDestroy(dom.get()), 0) << libvirtError("destroy").message();

  ASSERT_TRUE(spinUntil([&] { return !has(kWeb, "vdb"); })) << "the boot image stayed";
  EXPECT_FALSE(fileExists(boot.path));
  EXPECT_EQ(removalReason(kWeb, "vdb"), "domain-stopped");
  EXPECT_TRUE(has(kWeb, "vdc"));
  EXPECT_TRUE(fileExists(kept.path));

  ASSERT_EQ(virDomainUndefine(dom.get()), 0) << libvirtError("undefine").message();
  ASSERT_TRUE(spinUntil([&] { return !has(kWeb, "vdc"); })) << "the domain image stayed";
  EXPECT_FALSE(fileExists(kept.path));
  EXPECT_EQ(removalReason(kWeb, "vdc"), "domain-undefined");
}

TEST_F(LifecycleWatcherTest, StartedDomainGetsItsHotplugDiskMadeFromItsMetadata) {
  DomainPtr dom = define(domainXml("web", kWeb, scratchDisk("vdd", "boot", "hotplug")));
  ASSERT_TRUE(dom);
  startWatching();
  ASSERT_EQ(virDomainCreate(dom.get()), 0) << libvirtError("start").message();

  ASSERT_TRUE(spinUntil([&] { return has(kWeb, "vdd"); })) << "no image was made";
  const ImageRecord* record = service->findImage(vocabulary::imageIdOf(kWeb, "vdd"));
  EXPECT_EQ(record->lifetime, vocabulary::Lifetime::kBoot);
  auto blkid = test::run({"blkid", "-p", "-o", "export", record->path});
  auto fs = test::parseExport(blkid.out);
  EXPECT_EQ(fs["TYPE"], "ext4") << blkid.err;
  EXPECT_EQ(fs["LABEL"], "scratch");
  std::string path = record->path;

  ASSERT_EQ(virDomainDestroy(dom.get()), 0);
  ASSERT_TRUE(spinUntil([&] { return !has(kWeb, "vdd"); }));
  EXPECT_FALSE(fileExists(path));
}

// A hot-plugged disk's record says whether its <disk> gives freed blocks back (the watcher
// writes the element from it, vocabulary::diskXml): yes unless its metadata (or [pool] discard)
// says ignore. The test driver cannot hot-plug; the end-to-end tests read the live element.
TEST_F(LifecycleWatcherTest, HotPluggedDisksDiscardUnlessTheMetadataSaysIgnore) {
  std::string ignored = scratchDisk("vde", "boot", "hotplug");
  ignored.insert(ignored.size() - 2, " discard='ignore'");
  DomainPtr dom = define(domainXml("web", kWeb, scratchDisk("vdd", "boot", "hotplug") + ignored));
  ASSERT_TRUE(dom);
  startWatching();
  ASSERT_EQ(virDomainCreate(dom.get()), 0) << libvirtError("start").message();
  ASSERT_TRUE(spinUntil([&] { return has(kWeb, "vdd") && has(kWeb, "vde"); }))
      << "no images were made";
  EXPECT_TRUE(service->findImage(vocabulary::imageIdOf(kWeb, "vdd"))->discard);
  EXPECT_FALSE(service->findImage(vocabulary::imageIdOf(kWeb, "vde"))->discard);
  ASSERT_EQ(virDomainDestroy(dom.get()), 0);
  ASSERT_TRUE(spinUntil([&] { return !has(kWeb, "vdd") && !has(kWeb, "vde"); }));
}

TEST_F(LifecycleWatcherTest, TransientDomainThatStopsLosesAllItsImages) {
  std::string xml = domainXml("tmp", kWeb, scratchDisk("vdb", "domain", "boot"));
  startWatching();
  ImageRecord image = allocate(kWeb, "vdb", vocabulary::Lifetime::kDomain);
  DomainPtr dom(virDomainCreateXML(driver.get(), xml.c_str(), 0));
  ASSERT_TRUE(dom) << libvirtError("create").message();
  ASSERT_EQ(virDomainDestroy(dom.get()), 0);
  ASSERT_TRUE(spinUntil([&] { return !has(kWeb, "vdb"); }));
  EXPECT_FALSE(fileExists(image.path));
  EXPECT_EQ(removalReason(kWeb, "vdb"), "domain-undefined");
}

// The race of a fast destroy + start: STOPPED is read on the worker while the domain is stopped,
// but applied only after the domain was started again and its hook had released the old image
// and asked for a new one. The new run's image must stay.
TEST_F(LifecycleWatcherTest, StoppedEventAppliedLateKeepsTheImageTheNextRunAskedFor) {
  const std::string id = vocabulary::imageIdOf(kWeb, "vdb");
  ImageRecord first = allocate(kWeb, "vdb", vocabulary::Lifetime::kBoot);
  DomainPtr dom = define(domainXml("web", kWeb, scratchDisk("vdb", "boot", "boot"),
                                   bootDiskDevice(first.path, "vdb")));
  ASSERT_TRUE(dom);
  ASSERT_EQ(virDomainCreate(dom.get()), 0) << libvirtError("start").message();
  startWatching();
  ASSERT_TRUE(spinUntil([&] { return gate.ran() == 1; })) << "the reconcile did not end";
  ASSERT_EQ(service->findImage(id)->state, ImageState::kAttached);

  gate.hold();
  ASSERT_EQ(virDomainDestroy(dom.get()), 0) << libvirtError("destroy").message();
  // The worker has read the domain as stopped; what it found waits at the gate.
  ASSERT_TRUE(spinUntil([&] { return gate.waiting() == 1; })) << "STOPPED was not read";
  // The hook: `release end` of the run that stopped, `prepare begin` of the next one.
  ASSERT_TRUE(service->releaseImage({}, id, "released").ok());
  ASSERT_EQ(virDomainCreate(dom.get()), 0) << libvirtError("start").message();
  ImageRecord second = allocate(kWeb, "vdb", vocabulary::Lifetime::kBoot);
  ASSERT_TRUE(spinUntil([&] { return gate.waiting() == 2; })) << "STARTED was not read";

  gate.open();
  ASSERT_TRUE(spinUntil([&] { return gate.ran() == 3; }));
  ASSERT_TRUE(has(kWeb, "vdb")) << "the stale STOPPED released the new run's image";
  EXPECT_TRUE(fileExists(second.path));
  EXPECT_EQ(service->findImage(id)->state, ImageState::kAttached);
  EXPECT_EQ(removalReason(kWeb, "vdb"), "released");

  // A STOPPED of this run still releases it.
  ASSERT_EQ(virDomainDestroy(dom.get()), 0) << libvirtError("destroy").message();
  ASSERT_TRUE(spinUntil([&] { return !has(kWeb, "vdb"); })) << "the boot image stayed";
  EXPECT_FALSE(fileExists(second.path));
}

TEST_F(LifecycleWatcherTest, ConnectingReconcilesThePoolWithTheDomains) {
  // What a daemon finds after being down: images of a domain that is gone, of one that stopped,
  // and of one that runs with its boot disk attached.
  ImageRecord gone = allocate(kGone, "vdb", vocabulary::Lifetime::kManual);
  ImageRecord stoppedBoot = allocate(kDb, "vdb", vocabulary::Lifetime::kBoot);
  ImageRecord stoppedKept = allocate(kDb, "vdc", vocabulary::Lifetime::kDomain);
  ImageRecord running = allocate(kWeb, "vdb", vocabulary::Lifetime::kBoot);
  ASSERT_TRUE(define(domainXml(
      "db", kDb, scratchDisk("vdb", "boot", "boot") + scratchDisk("vdc", "domain", "boot"))));
  DomainPtr web = define(domainXml("web", kWeb, scratchDisk("vdb", "boot", "boot"),
                                   bootDiskDevice(running.path, "vdb")));
  ASSERT_EQ(virDomainCreate(web.get()), 0) << libvirtError("start").message();

  startWatching();
  ASSERT_TRUE(spinUntil([&] {
    const ImageRecord* r = service->findImage(vocabulary::imageIdOf(kWeb, "vdb"));
    return !has(kGone, "vdb") && !has(kDb, "vdb") && r != nullptr &&
           r->state == ImageState::kAttached;
  })) << "the pool was not reconciled";

  EXPECT_FALSE(has(kGone, "vdb"));
  EXPECT_FALSE(fileExists(gone.path));
  EXPECT_EQ(removalReason(kGone, "vdb"), "domain-undefined");
  EXPECT_FALSE(has(kDb, "vdb"));
  EXPECT_FALSE(fileExists(stoppedBoot.path));
  EXPECT_EQ(removalReason(kDb, "vdb"), "domain-stopped");
  EXPECT_TRUE(fileExists(stoppedKept.path));
  ASSERT_TRUE(has(kWeb, "vdb"));
  EXPECT_TRUE(fileExists(running.path));
  EXPECT_EQ(service->findImage(vocabulary::imageIdOf(kWeb, "vdb"))->state, ImageState::kAttached);
}

// An offline migration runs the hook's `migrate begin` (the empty incoming images are made) and
// then defines the domain without starting it: those images hold no filesystem and must not be
// what its first start uses.
TEST_F(LifecycleWatcherTest, DefinedButStoppedDomainLosesTheImagesOfAMigrationThatBroughtNoData) {
  startWatching();
  ImageRecord incoming = allocate(kWeb, "vdb", vocabulary::Lifetime::kDomain, true);
  ImageRecord own = allocate(kWeb, "vdc", vocabulary::Lifetime::kDomain);
  ASSERT_TRUE(incoming.incoming);
  ASSERT_FALSE(own.incoming);
  ASSERT_TRUE(define(domainXml(
      "web", kWeb, scratchDisk("vdb", "domain", "boot") + scratchDisk("vdc", "domain", "boot"),
      bootDiskDevice(incoming.path, "vdb") + bootDiskDevice(own.path, "vdc"))));

  ASSERT_TRUE(spinUntil([&] { return !has(kWeb, "vdb"); })) << "the empty image stayed";
  EXPECT_FALSE(fileExists(incoming.path));
  EXPECT_EQ(removalReason(kWeb, "vdb"), "domain-migrated");
  EXPECT_TRUE(has(kWeb, "vdc"));
  EXPECT_TRUE(fileExists(own.path));
}

// A live migration starts the domain here (STARTED, transient until it finishes): from then on
// the image holds the guest's data and is the domain's like any other, on disk too, so neither
// a later definition of the stopped domain nor a restart takes it for an unused one.
TEST_F(LifecycleWatcherTest, AnIncomingImageIsSettledOnceTheDomainRunsHere) {
  startWatching();
  ImageRecord image = allocate(kWeb, "vdb", vocabulary::Lifetime::kDomain, true);
  std::string record = dir.file("pool") + "/" + kWeb + "/vdb.record";
  ASSERT_NE(test::readFile(record).find("incoming=true"), std::string::npos);
  std::string xml = domainXml("web", kWeb, scratchDisk("vdb", "domain", "boot"),
                              bootDiskDevice(image.path, "vdb"));
  DomainPtr dom(virDomainCreateXML(driver.get(), xml.c_str(), 0));
  ASSERT_TRUE(dom) << libvirtError("create").message();
  const std::string id = vocabulary::imageIdOf(kWeb, "vdb");
  ASSERT_TRUE(spinUntil([&] { return !service->findImage(id)->incoming; })) << "not settled";
  EXPECT_EQ(test::readFile(record).find("incoming"), std::string::npos);

  // --persistent at the end of the migration, then a stop and a new definition.
  ASSERT_TRUE(define(xml));
  ASSERT_EQ(virDomainDestroy(dom.get()), 0) << libvirtError("destroy").message();
  ASSERT_TRUE(define(xml));
  // Events are applied in the order they came: once another domain's definition has been
  // applied, so have these.
  ImageRecord later = allocate(kDb, "vdb", vocabulary::Lifetime::kDomain, true);
  ASSERT_TRUE(define(domainXml("db", kDb, scratchDisk("vdb", "domain", "boot"))));
  ASSERT_TRUE(spinUntil([&] { return !has(kDb, "vdb"); }));
  EXPECT_TRUE(has(kWeb, "vdb"));
  EXPECT_TRUE(fileExists(image.path));
}

TEST_F(LifecycleWatcherTest, ResolverLooksNamesUpOnlyWhileConnected) {
  ASSERT_TRUE(define(domainXml("web", kWeb, "")));
  auto offline = resolver->resolve("web");
  ASSERT_FALSE(offline.ok());
  EXPECT_EQ(offline.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(offline.status().message().find("not connected to libvirt"), std::string::npos)
      << offline.status().message();
  auto uuid = resolver->resolve("0D3C2E8A-5F4B-4C6D-9E7F-101112131415");
  ASSERT_TRUE(uuid.ok());
  EXPECT_EQ(uuid->uuid, kWeb);

  ASSERT_NO_FATAL_FAILURE(connect());
  auto named = resolver->resolve("web");
  ASSERT_TRUE(named.ok()) << named.status().message();
  EXPECT_EQ(named->uuid, kWeb);
  EXPECT_EQ(named->name, "web");
  auto unknown = resolver->resolve("mail");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("'mail'"), std::string::npos);
}

// ---- libvirt's event loop on GLib, through libvirt's public virEvent* calls.

struct Counter {
  int calls = 0;
  int lastEvents = 0;
  int watch = 0;
  bool removeInCallback = false;
  int freed = 0;
  bool freedInsideRemove = false;
};

TEST(LibvirtEventLoop, TimeoutsFireUntilDisabledAndAreFreedAfterRemoval) {
  testing::registerForTests();
  Counter counter;
  int timer = virEventAddTimeout(
      0, [](int, void* opaque) { ++static_cast<Counter*>(opaque)->calls; }, &counter,
      [](void* opaque) { ++static_cast<Counter*>(opaque)->freed; });
  ASSERT_GT(timer, 0);
  ASSERT_TRUE(spinUntil([&] { return counter.calls >= 3; }));
  virEventUpdateTimeout(timer, -1);
  int calls = counter.calls;
  drainReady();
  EXPECT_EQ(counter.calls, calls);
  ASSERT_EQ(virEventRemoveTimeout(timer), 0);
  EXPECT_EQ(counter.freed, 0);  // never inside the remove call
  ASSERT_TRUE(spinUntil([&] { return counter.freed == 1; }));
  EXPECT_EQ(virEventRemoveTimeout(timer), -1);
}

TEST(LibvirtEventLoop, HandlesReportReadableAndMayRemoveThemselves) {
  testing::registerForTests();
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  Counter counter;
  counter.removeInCallback = true;
  counter.watch = virEventAddHandle(
      fds[0], VIR_EVENT_HANDLE_READABLE,
      [](int watch, int, int events, void* opaque) {
        auto* c = static_cast<Counter*>(opaque);
        ++c->calls;
        c->lastEvents = events;
        if (c->removeInCallback) {
          virEventRemoveHandle(watch);
          c->freedInsideRemove = c->freed != 0;
        }
      },
      &counter, [](void* opaque) { ++static_cast<Counter*>(opaque)->freed; });
  ASSERT_GT(counter.watch, 0);
  drainReady();
  EXPECT_EQ(counter.calls, 0);  // nothing to read yet
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  ASSERT_TRUE(spinUntil([&] { return counter.freed == 1; }));
  EXPECT_EQ(counter.calls, 1);
  EXPECT_EQ(counter.lastEvents & VIR_EVENT_HANDLE_READABLE, VIR_EVENT_HANDLE_READABLE);
  EXPECT_FALSE(counter.freedInsideRemove);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace virtscratch::daemon::libvirt
