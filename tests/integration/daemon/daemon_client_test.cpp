// The client library (client/scratch_client.h) against the real daemon on the private bus:
// Allocate's path in the reply, the image listing, ReleaseDomain's lifetime filter, the interface
// version, the daemon's named errors coming back as their ErrorCode, and the bus's daemon dying
// under a call.
#include <signal.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <future>

#include "client/scratch_client.h"
#include "client/sd_bus_handles.h"
#include "tests/integration/daemon/daemon_fixture.h"
#include "vocabulary/image_id.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

using vocabulary::Lifetime;

vocabulary::AllocateSpec spec(const std::string& target, Lifetime lifetime) {
  vocabulary::AllocateSpec s;
  s.image.size = 64 * kMiB;
  s.image.format = image::ImageFormat::kRaw;
  s.image.filesystem = image::Filesystem::kExt4;
  s.sizeGiven = true;
  s.target = target;
  s.lifetime = lifetime;
  return s;
}

class DaemonClient : public DaemonTest {
 protected:
  std::unique_ptr<client::ScratchClient> connectClient() {
    auto made = client::ScratchClient::connect();
    EXPECT_TRUE(made.ok()) << made.status().message();
    return made.ok() ? std::move(*made) : nullptr;
  }
  std::vector<std::string> targetsOf(client::ScratchClient& scratch) {
    auto images = scratch.listImages();
    EXPECT_TRUE(images.ok()) << images.status().message();
    std::vector<std::string> targets;
    if (images.ok()) {
      for (const auto& image : *images) targets.push_back(image.target);
    }
    std::sort(targets.begin(), targets.end());
    return targets;
  }
};

TEST_F(DaemonClient, AllocateAnswersTheObjectAndTheFileInOneReply) {
  startDaemon();
  auto scratch = connectClient();
  ASSERT_TRUE(scratch);
  auto made = scratch->allocate(kDomainA, spec("vdb", Lifetime::kBoot));
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_EQ(made->path, poolPath() + "/" + kDomainA + "/vdb.raw");
  EXPECT_EQ(access(made->path.c_str(), F_OK), 0) << made->path;
  EXPECT_EQ(run({"e2fsck", "-fn", made->path}).exitCode, 0);

  // The same disk again: the same image, not a second one.
  auto again = scratch->allocate(kDomainA, spec("vdb", Lifetime::kBoot));
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->object, made->object);
  EXPECT_EQ(again->path, made->path);

  auto info = scratch->image(made->object);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->path, made->path);
  EXPECT_EQ(info->domain, kDomainA);
  EXPECT_EQ(info->lifetime, "boot");
  EXPECT_EQ(info->format, "raw");
  EXPECT_EQ(info->filesystem, "ext4");
  EXPECT_EQ(info->virtualSize, 64 * kMiB);
  auto byId = scratch->image(info->id);
  ASSERT_TRUE(byId.ok()) << byId.status().message();
  EXPECT_EQ(byId->object, made->object);
}

TEST_F(DaemonClient, ReleaseDomainReleasesOnlyTheLifetimesAsked) {
  startDaemon();
  auto scratch = connectClient();
  ASSERT_TRUE(scratch);
  ASSERT_TRUE(scratch->allocate(kDomainA, spec("vdb", Lifetime::kBoot)).ok());
  ASSERT_TRUE(scratch->allocate(kDomainA, spec("vdc", Lifetime::kDomain)).ok());
  ASSERT_TRUE(scratch->allocate(kDomainA, spec("vdd", Lifetime::kManual)).ok());
  ASSERT_TRUE(scratch->allocate(kDomainB, spec("vdb", Lifetime::kBoot)).ok());

  // As the hook does when a domain stops: the boot images only, of that domain only.
  auto released = scratch->releaseDomain(kDomainA, {.lifetimes = {Lifetime::kBoot}, .origin = {}});
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, 1u);
  EXPECT_EQ(targetsOf(*scratch), (std::vector<std::string>{"vdb", "vdc", "vdd"}));
  EXPECT_EQ(access((poolPath() + "/" + kDomainA + "/vdb.raw").c_str(), F_OK), -1);
  EXPECT_EQ(access((poolPath() + "/" + kDomainB + "/vdb.raw").c_str(), F_OK), 0);

  // Several lifetimes at once, then every image.
  released = scratch->releaseDomain(
      kDomainA, {.lifetimes = {Lifetime::kBoot, Lifetime::kDomain}, .origin = {}});
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, 1u);
  released = scratch->releaseDomain(kDomainA, {});
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, 1u);
  EXPECT_EQ(targetsOf(*scratch), (std::vector<std::string>{"vdb"}));
}

TEST_F(DaemonClient, RefusesAnUnknownLifetimeInReleaseDomainNamingIt) {
  startDaemon();
  ManagerClient manager(bus());
  allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "ext4"));
  const std::vector<std::string> before = poolFiles();
  std::map<std::string, sdbus::Variant> options{
      {"lifetime", sdbus::Variant(std::vector<std::string>{"boot", "forever"})}};
  try {
    manager.ReleaseDomain(kDomainA, options);
    ADD_FAILURE() << "ReleaseDomain took the lifetime 'forever'";
  } catch (const sdbus::Error& e) {
    EXPECT_EQ(e.getName(), "org.virtscratch.Scratch1.Error.InvalidArgument");
    EXPECT_NE(e.getMessage().find("'forever'"), std::string::npos) << e.getMessage();
  }
  options = {{"lifetime", sdbus::Variant(std::vector<std::string>{})}};
  EXPECT_EQ(errorNameOf([&] { manager.ReleaseDomain(kDomainA, options); }),
            "org.virtscratch.Scratch1.Error.InvalidArgument");
  EXPECT_EQ(poolFiles(), before) << "a refused ReleaseDomain released something";
}

TEST_F(DaemonClient, SpeaksTheDaemonsInterfaceVersionAndReadsThePool) {
  startDaemon();
  auto scratch = connectClient();
  ASSERT_TRUE(scratch);
  auto version = scratch->checkInterfaceVersion();
  ASSERT_TRUE(version.ok()) << version.status().message();
  EXPECT_EQ(*version, client::ScratchClient::kInterfaceVersion);
  ASSERT_TRUE(scratch->allocate(kDomainA, spec("vdb", Lifetime::kBoot)).ok());
  auto pool = scratch->status();
  ASSERT_TRUE(pool.ok()) << pool.status().message();
  EXPECT_EQ(pool->interfaceVersion, client::ScratchClient::kInterfaceVersion);
  EXPECT_EQ(pool->path, poolPath());
  EXPECT_EQ(pool->imageCount, 1u);
  EXPECT_GT(pool->used, 0u);
  EXPECT_FALSE(pool->version.empty());
}

TEST_F(DaemonClient, ReturnsTheDaemonsErrorsAsTheirCodes) {
  startDaemon();
  auto scratch = connectClient();
  ASSERT_TRUE(scratch);
  vocabulary::AllocateSpec tooSmall = spec("vdb", Lifetime::kBoot);
  tooSmall.image.size = 4096;
  auto refused = scratch->allocate(kDomainA, tooSmall);
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument) << refused.status().message();
  EXPECT_NE(refused.status().message().find("4 KiB"), std::string::npos)
      << refused.status().message();

  // A name, not a UUID, and no libvirt to resolve it: NotFound naming it.
  auto notADomain = scratch->allocate("not-a-uuid", spec("vdb", Lifetime::kBoot));
  EXPECT_EQ(notADomain.status().code(), ErrorCode::kNotFound);
  EXPECT_NE(notADomain.status().message().find("not-a-uuid"), std::string::npos)
      << notADomain.status().message();

  std::string missing = "6f2b3c1e0d4a4e5b9c7d1a2b3c4d5e6f_vdz";
  EXPECT_EQ(scratch->releaseImage(missing, false).code(), ErrorCode::kNotFound);
  EXPECT_EQ(scratch->image(missing).status().code(), ErrorCode::kNotFound);
  Status bad = scratch->releaseImage("../etc", false);
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("'../etc'"), std::string::npos) << bad.message();
  EXPECT_TRUE(poolFiles().empty());
}

TEST_F(DaemonClient, TheDocumentedExampleAllocatesAndNamesABadDomain) {
  startDaemon();
  CommandResult made = run({CLIENT_EXAMPLE_BIN, kDomainA, "vdc"});
  ASSERT_EQ(made.exitCode, 0) << made.out << made.err;
  EXPECT_NE(made.out.find("file " + poolPath() + "/" + kDomainA + "/vdc.qcow2"), std::string::npos)
      << made.out;
  EXPECT_NE(made.out.find("the pool holds 1 image(s)"), std::string::npos) << made.out;
  EXPECT_EQ(run({"qemu-img", "check", poolPath() + "/" + kDomainA + "/vdc.qcow2"}).exitCode, 0);

  CommandResult refused = run({CLIENT_EXAMPLE_BIN, "web'; rm -rf /"});
  EXPECT_EQ(refused.exitCode, 1);
  EXPECT_NE(refused.err.find("error (InvalidArgument)"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("web'; rm -rf /"), std::string::npos) << refused.err;
}

TEST_F(DaemonClient, ThePythonExampleAllocatesAndGetsTheErrorName) {
  startDaemon();
  const std::string script =
      std::string(VIRTSCRATCH_SOURCE_DIR) + "/client/example/allocate_example.py";
  CommandResult made = run({"/usr/bin/python3", script, kDomainA, "vde"});
  ASSERT_EQ(made.exitCode, 0) << made.out << made.err;
  EXPECT_NE(made.out.find("file " + poolPath() + "/" + kDomainA + "/vde.qcow2"), std::string::npos)
      << made.out;
  EXPECT_EQ(run({"qemu-img", "check", poolPath() + "/" + kDomainA + "/vde.qcow2"}).exitCode, 0);
  auto listed = client::ScratchClient::connect();
  ASSERT_TRUE(listed.ok());
  auto info = (*listed)->image(vocabulary::imageIdOf(kDomainA, "vde"));
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->filesystem, "xfs");
  EXPECT_EQ(info->lifetime, "manual");
  CommandResult refused = run({"/usr/bin/python3", script, kDomainA, "../x"});
  EXPECT_EQ(refused.exitCode, 1);
  EXPECT_NE(refused.err.find("org.virtscratch.Scratch1.Error.InvalidArgument"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("'../x'"), std::string::npos) << refused.err;
}

TEST_F(DaemonClient, SaysHowToStartTheDaemonWhenItIsNotRunning) {
  auto scratch = connectClient();
  ASSERT_TRUE(scratch);
  auto made = scratch->allocate(kDomainA, spec("vdb", Lifetime::kBoot));
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), ErrorCode::kFailed);
  EXPECT_NE(made.status().message().find("systemctl start virt-scratchd"), std::string::npos)
      << made.status().message();
}

// dbus-daemon is killed while a call waits for its answer: the call ends at once saying the
// connection was lost, not at its timeout as "did not answer". The test itself owns the
// daemon's name on the real bus and takes the Allocate without answering it, so the call is
// known to be pending when the bus dies.
TEST_F(DaemonClient, SaysTheConnectionWasLostWhenTheBusDiesUnderAPendingCall) {
  sd_bus* raw = nullptr;
  ASSERT_GE(sd_bus_open_system(&raw), 0);
  client::BusPtr service(raw);
  ASSERT_GE(sd_bus_request_name(service.get(), "org.virtscratch.Scratch1", 0), 0);
  uint32_t busPid = 0;
  {
    sd_bus_message* reply = nullptr;
    ASSERT_GE(sd_bus_call_method(service.get(), "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "GetConnectionUnixProcessID", nullptr,
                                 &reply, "s", "org.freedesktop.DBus"),
              0);
    client::MessagePtr owned(reply);
    ASSERT_GE(sd_bus_message_read(reply, "u", &busPid), 0);
  }
  ASSERT_GT(busPid, 0u);
  // A filter that handles the call by keeping it: no reply, not even sd-bus's UnknownMethod.
  client::MessagePtr taken;
  auto keep = [](sd_bus_message* m, void* userdata, sd_bus_error*) -> int {
    if (sd_bus_message_is_method_call(m, "org.virtscratch.Scratch1.Manager", "Allocate") <= 0) {
      return 0;
    }
    static_cast<client::MessagePtr*>(userdata)->reset(sd_bus_message_ref(m));
    return 1;
  };
  sd_bus_slot* rawSlot = nullptr;
  ASSERT_GE(sd_bus_add_filter(service.get(), &rawSlot, keep, &taken), 0);
  client::SlotPtr filter(rawSlot);

  client::ConnectOptions options;
  options.callTimeout = std::chrono::seconds(60);
  auto made = client::ScratchClient::connect(options);
  ASSERT_TRUE(made.ok()) << made.status().message();
  std::unique_ptr<client::ScratchClient> scratch = std::move(*made);
  auto pending = std::async(std::launch::async, [&scratch] {
    return scratch->allocate(kDomainA, spec("vdb", Lifetime::kBoot));
  });
  ASSERT_TRUE(processUntil(service.get(), [&taken] { return taken != nullptr; }))
      << "the Allocate never reached the test's service";

  ASSERT_EQ(kill(static_cast<pid_t>(busPid), SIGKILL), 0);
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto result = pending.get();
  ASSERT_FALSE(result.ok());
  const std::string expected =
      "the connection to the system bus was lost while waiting for the answer to Allocate";
  EXPECT_EQ(result.status().message().substr(0, expected.size()), expected)
      << result.status().message();
}

}  // namespace
}  // namespace virtscratch::test
