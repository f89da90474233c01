// Release against libvirt's test driver in this process: a domain defined with the image as a
// disk and started is running with it, so releasing the image is Busy naming the domain until
// forced; stopped, or running without it, the image is released. The probe's libvirt calls run
// on its worker and answer on the GLib loop the test turns.
#include "daemon/libvirt/attachment_probe.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_resolver.h"
#include "daemon/service.h"
#include "tests/support/test_util.h"
#include "tests/unit/daemon/fakes.h"
#include "tests/unit/daemon/libvirt_fixture.h"

namespace virtscratch::daemon::libvirt {
namespace {

using testing::spinUntil;
using ::virtscratch::test::fileExists;

constexpr const char* kWeb = "3d3c2e8a-5f4b-4c6d-9e7f-101112131415";

std::string domainXml(const std::string& name, const std::string& devices) {
  return "<domain type='test'><name>" + name + "</name><uuid>" + kWeb +
         "</uuid><memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices>" + devices +
         "</devices></domain>";
}

// A disk as libvirt takes it from a caller: the path escaped by hand here.
std::string disk(const std::string& escapedPath, const std::string& target) {
  return "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" +
         escapedPath + "'/><target dev='" + target + "' bus='virtio'/></disk>";
}

class AttachmentProbeTest : public testing::ServiceOnTestDriver {
 protected:
  void SetUp() override {
    // Quotes and ampersands: libvirt writes them as entities in the XML it gives back.
    start(dir.file("po'ol&1"));
    probe = std::make_unique<LibvirtAttachmentProbe>(*connection, invoker);
    service->setAttachmentProbe(probe.get());
    image = allocate(kWeb, "vdb", vocabulary::Lifetime::kBoot);
    ASSERT_FALSE(image.id.empty());
  }

  void TearDown() override {
    if (dom) {
      virDomainDestroy(dom.get());
      virDomainUndefine(dom.get());
    }
    dom.reset();
    if (service) service->setAttachmentProbe(nullptr);
    probe.reset();
    ServiceOnTestDriver::TearDown();
  }

  void defineWeb(const std::string& devices, bool start) {
    dom.reset(virDomainDefineXML(driver.get(), domainXml("web", devices).c_str()));
    ASSERT_TRUE(dom) << libvirtError("define").message();
    if (start) {
      ASSERT_EQ(virDomainCreate(dom.get()), 0) << libvirtError("start").message();
    }
  }

  Status release(bool force) {
    std::optional<Status> out;
    service->releaseImage({}, image.id, ReleaseOptions{force, {}, {}}, [&](Status s) { out = s; });
    EXPECT_TRUE(spinUntil([&] { return out.has_value(); }));
    return out.value_or(Status(ErrorCode::kFailed, "no answer"));
  }

  Result<uint32_t> releaseDomain(bool force) {
    std::optional<Result<uint32_t>> out;
    service->releaseDomain({}, kWeb, ReleaseOptions{force, {}, {}},
                           [&](Result<uint32_t> r) { out = r; });
    EXPECT_TRUE(spinUntil([&] { return out.has_value(); }));
    if (!out) return Status(ErrorCode::kFailed, "no answer");
    return *out;
  }

  DomainPtr dom;
  std::unique_ptr<LibvirtAttachmentProbe> probe;
  ImageRecord image;
};

std::string escaped(const std::string& path) {
  std::string out;
  for (char c : path) {
    out += c == '\'' ? std::string("&apos;") : c == '&' ? std::string("&amp;") : std::string(1, c);
  }
  return out;
}

TEST_F(AttachmentProbeTest, ReleaseOfAnImageARunningDomainUsesIsBusyUntilForced) {
  ASSERT_NO_FATAL_FAILURE(connect());
  defineWeb(disk("/var/lib/libvirt/images/root.raw", "vda") + disk(escaped(image.path), "vdb"),
            true);
  Status busy = release(false);
  ASSERT_EQ(busy.code(), ErrorCode::kBusy) << busy.message();
  EXPECT_NE(busy.message().find(image.path + " is attached to the running domain web (" +
                                std::string(kWeb) + ")"),
            std::string::npos)
      << busy.message();
  auto domainBusy = releaseDomain(false);
  EXPECT_EQ(domainBusy.status().code(), ErrorCode::kBusy) << domainBusy.status().message();
  EXPECT_TRUE(fileExists(image.path));
  EXPECT_TRUE(listener.removed.empty());

  EXPECT_TRUE(release(true).ok());
  EXPECT_FALSE(fileExists(image.path));
}

TEST_F(AttachmentProbeTest, ReleaseGoesAheadWhenTheDomainIsStoppedOrDoesNotUseTheImage) {
  ASSERT_NO_FATAL_FAILURE(connect());
  defineWeb(disk(escaped(image.path), "vdb"), false);  // defined with it, not running
  EXPECT_TRUE(release(false).ok());
  EXPECT_FALSE(fileExists(image.path));
}

TEST_F(AttachmentProbeTest, ReleaseDomainGoesAheadWhenTheRunningDomainHasNotTheDisk) {
  ASSERT_NO_FATAL_FAILURE(connect());
  defineWeb(disk("/var/lib/libvirt/images/root.raw", "vda"), true);
  auto released = releaseDomain(false);
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, 1u);
  EXPECT_FALSE(fileExists(image.path));
}

TEST_F(AttachmentProbeTest, ReleaseIsBusyWhileLibvirtIsNotConnected) {
  // connection->start() not called: the daemon does not know what runs.
  Status busy = release(false);
  ASSERT_EQ(busy.code(), ErrorCode::kBusy) << busy.message();
  EXPECT_NE(busy.message().find("not connected to libvirt at test:///default"), std::string::npos)
      << busy.message();
  EXPECT_TRUE(fileExists(image.path));
  EXPECT_TRUE(release(true).ok());
}

TEST(HasDiskSource, MatchesTheSourceFileAsLibvirtEscapesIt) {
  std::string xml =
      "<domain type='qemu'><name>web</name><devices><disk type='file' device='disk'>\n"
      "  <source file='/p/a&apos;b&amp;c.raw' index='1'/>\n  <target dev='vdb' bus='virtio'/>\n"
      "</disk></devices></domain>";
  auto has = [&](const std::string& path) {
    auto found = diskSourcesAmong(xml, {path});
    EXPECT_TRUE(found.ok()) << found.status().message();
    return found.ok() && found->size() == 1;
  };
  EXPECT_TRUE(has("/p/a'b&c.raw"));
  EXPECT_FALSE(has("/p/a'b&c"));  // a prefix of the source is another file
  EXPECT_FALSE(has("/p/a'b&c.raw.old"));
}

}  // namespace
}  // namespace virtscratch::daemon::libvirt
