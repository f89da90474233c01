// Bad requests: each is answered with its named error, nothing is created, and the daemon goes
// on serving.
#include <fcntl.h>

#include <filesystem>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;
constexpr char kInvalid[] = "org.virtscratch.Scratch1.Error.InvalidArgument";
constexpr char kQuota[] = "org.virtscratch.Scratch1.Error.QuotaExceeded";  // [limits] max-size

sdbus::Variant str(const std::string& s) { return sdbus::Variant(s); }

struct BadRequest {
  std::string what;
  std::string domain;
  Spec spec;
  std::string error;
};

std::vector<BadRequest> badRequests(const std::string& outsideRoots, const std::string& root) {
  Spec ok = {{"size", sdbus::Variant(kGiB)}};
  auto with = [&ok](const std::string& key, sdbus::Variant value) {
    Spec s = ok;
    s[key] = std::move(value);
    return s;
  };
  return {
      {"an unknown key", kDomainA, with("colour", str("blue")), kInvalid},
      {"size as a string", kDomainA, {{"size", str("1G")}}, kInvalid},
      {"size as a 32-bit number", kDomainA, {{"size", sdbus::Variant(uint32_t{1})}}, kInvalid},
      {"vcpus as a 64-bit number",
       kDomainA,
       {{"size-per-vcpu", sdbus::Variant(kGiB)}, {"vcpus", sdbus::Variant(uint64_t{2})}},
       kInvalid},
      {"a zero size", kDomainA, {{"size", sdbus::Variant(uint64_t{0})}}, kInvalid},
      {"no size at all", kDomainA, {}, kInvalid},
      {"a huge size", kDomainA, {{"size", sdbus::Variant(uint64_t{1} << 62)}}, kQuota},
      {"a path as the domain", "../../etc/passwd", ok, kInvalid},
      {"a control character in the domain", "vm\n1", ok, kInvalid},
      {"a path as the target", kDomainA, with("target", str("../vdb")), kInvalid},
      {"an upper-case target", kDomainA, with("target", str("VDB")), kInvalid},
      {"a label too long for ext4", kDomainA, with("label", str("seventeen-chars-x")), kInvalid},
      {"a label with a control character", kDomainA, with("label", str("a\tb")), kInvalid},
      {"an unknown filesystem", kDomainA, with("filesystem", str("ntfs")), kInvalid},
      {"an unknown format", kDomainA, with("format", str("vmdk")), kInvalid},
      {"an unknown lifetime", kDomainA, with("lifetime", str("forever")), kInvalid},
      {"a malformed filesystem UUID", kDomainA, with("uuid", str("not-a-uuid")), kInvalid},
      {"size and size-per-vcpu together", kDomainA, with("size-per-vcpu", sdbus::Variant(kGiB)),
       kInvalid},
      {"size-per-vcpu without a vCPU count",
       kDomainA,
       {{"size-per-vcpu", sdbus::Variant(kGiB)}},
       kInvalid},
      {"content outside the content roots", kDomainA, with("content", str(outsideRoots)),
       "org.virtscratch.Scratch1.Error.AccessDenied"},
      {"content leaving its root through ..", kDomainA, with("content", str(root + "/../..")),
       "org.virtscratch.Scratch1.Error.AccessDenied"},
      {"a domain name without libvirt", "my-vm", ok, "org.virtscratch.Scratch1.Error.NotFound"},
  };
}

using DaemonBadRequests = DaemonTest;

TEST_F(DaemonBadRequests, AreEachAnsweredWithTheirNamedErrorAndCreateNothing) {
  startDaemon();
  ManagerClient manager(bus());
  for (const BadRequest& bad : badRequests(dir_->path(), contentPath())) {
    SCOPED_TRACE(bad.what);
    std::string message;
    std::string name = errorNameOf([&] {
      try {
        allocate(manager, bad.domain, bad.spec);
      } catch (const sdbus::Error& e) {
        message = e.getMessage();
        throw;
      }
    });
    EXPECT_EQ(name, bad.error) << message;
    EXPECT_FALSE(message.empty());
  }
  EXPECT_EQ(poolFiles().size(), 0u) << "the pool holds files after bad requests";
  EXPECT_TRUE(manager.ListImages().empty());
  // Still serving: a good request works.
  allocate(manager, kDomainA, {{"size", sdbus::Variant(kGiB)}});
  EXPECT_EQ(manager.ImageCount(), 1u);
}

TEST_F(DaemonBadRequests, NameTheKeyThatIsWrong) {
  startDaemon();
  ManagerClient manager(bus());
  try {
    allocate(manager, kDomainA, {{"size", sdbus::Variant(kGiB)}, {"colour", str("red")}});
    FAIL() << "an unknown key was accepted";
  } catch (const sdbus::Error& e) {
    EXPECT_NE(e.getMessage().find("'colour'"), std::string::npos) << e.getMessage();
  }
  try {
    allocate(manager, kDomainA, {{"size", str("10G")}});
    FAIL() << "a string size was accepted";
  } catch (const sdbus::Error& e) {
    EXPECT_NE(e.getMessage().find("'size'"), std::string::npos) << e.getMessage();
  }
}

TEST_F(DaemonBadRequests, NonUtf8NamesNeverReachTheBusAndTheDaemonGoesOn) {
  startDaemon();
  ManagerClient manager(bus());
  // D-Bus strings are UTF-8: sd-bus refuses to send anything else, so the daemon never sees it.
  std::string error = errorNameOf([&] { allocate(manager, "vm\xff\xfe", {}); });
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(error.rfind("org.virtscratch.", 0), std::string::npos) << error;
  // The command line says so itself, naming the argument.
  auto result = cli({"allocate", "vm\xff", "--size", "1G"});
  EXPECT_EQ(result.exitCode, 2);
  EXPECT_NE(result.err.find("not valid UTF-8"), std::string::npos) << result.err;
  result = cli({"allocate", kDomainA, "--size", "1G", "--label", "l\xc3"});
  EXPECT_EQ(result.exitCode, 2);
  EXPECT_NE(result.err.find("--label"), std::string::npos) << result.err;
  EXPECT_TRUE(nameHasOwner());
  EXPECT_TRUE(manager.ListImages().empty());
  EXPECT_EQ(poolFiles().size(), 0u);
}

TEST_F(DaemonBadRequests, ExportOfAnUnknownImageOrWithBadOptionsFails) {
  startDaemon();
  ManagerClient manager(bus());
  sdbus::ObjectPath image = allocate(manager, kDomainA, {{"size", sdbus::Variant(kGiB)}});
  std::string dest = dir_->file("out.gz");
  sdbus::UnixFd out = newOutput(dest);
  EXPECT_EQ(errorNameOf([&] {
              manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1/image/nothere_vdb"), out,
                             {});
            }),
            "org.virtscratch.Scratch1.Error.NotFound");
  EXPECT_EQ(
      errorNameOf([&] { manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1"), out, {}); }),
      "org.virtscratch.Scratch1.Error.NotFound");
  EXPECT_EQ(errorNameOf([&] {
              manager.Export(image, out, {{"level", sdbus::Variant(0u)}});
            }),
            kInvalid);
  EXPECT_EQ(errorNameOf([&] {
              manager.Export(image, out, {{"speed", sdbus::Variant(1u)}});
            }),
            kInvalid);
  sdbus::UnixFd readOnly(open(dest.c_str(), O_RDONLY | O_CLOEXEC), sdbus::adopt_fd);
  EXPECT_EQ(errorNameOf([&] { manager.Export(image, readOnly, {}); }), kInvalid);
  EXPECT_EQ(std::filesystem::file_size(dest), 0u);
}

}  // namespace
}  // namespace virtscratch::test
