// virt-scratch-hook run as libvirt runs it (argv, the domain XML on stdin), against the real
// virt-scratchd on a private bus; images checked with qemu-img and blkid.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/daemon/daemon_fixture.h"
#include "tests/support/json_value.h"
#include "tests/support/shipped_config.h"

namespace virtscratch::test {
namespace {

constexpr char kNamespace[] = "http://virtscratch.org/xmlns/scratch/1.0";

class HookTest : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    // As libvirtd does: a hook that leaves its stdin unread must not kill the writer.
    signal(SIGPIPE, SIG_IGN);
    if (dir_) writeHookConfig("closed", "30s");
  }

  void writeHookConfig(const std::string& fail, const std::string& timeout) {
    std::ofstream(dir_->file("hook.conf"))
        << "[hook]\nfail=" << fail << "\ntimeout=" << timeout << "\n";
  }

  // The definition libvirt passes: `disks` inside <scratch:disks>, and a <disk> for each
  // boot target in `fileDisks` (target -> source file).
  std::string domainXml(const std::string& uuid, const std::string& disks, int vcpus = 2,
                        const std::vector<std::pair<std::string, std::string>>& fileDisks = {}) {
    std::string xml = "<domain type='qemu'>\n  <name>vm-" + uuid.substr(0, 4) +
                      "</name>\n  <uuid>" + uuid +
                      "</uuid>\n  <metadata>\n    <scratch:disks xmlns:scratch='" + kNamespace +
                      "'>" + disks + "</scratch:disks>\n  </metadata>\n  <vcpu>" +
                      std::to_string(vcpus) + "</vcpu>\n  <devices>\n";
    for (const auto& [target, file] : fileDisks) {
      xml += "    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" +
             file + "'/><target dev='" + target + "' bus='virtio'/></disk>\n";
    }
    return xml + "  </devices>\n</domain>\n";
  }

  std::string imagePath(const std::string& uuid, const std::string& file) {
    return poolPath() + "/" + uuid + "/" + file;
  }

  CommandResult hook(const std::string& operation, const std::string& sub, const std::string& xml,
                     const std::string& busAddress = "") {
    std::vector<std::string> argv = {"env", "VIRT_SCRATCH_CONFIG=" + dir_->file("hook.conf")};
    if (!busAddress.empty()) argv.push_back("DBUS_SYSTEM_BUS_ADDRESS=" + busAddress);
    argv.insert(argv.end(), {VIRT_SCRATCH_HOOK_BIN, "vm", operation, sub, "-"});
    return runWithInput(argv, xml);
  }

  static uint64_t virtualSize(const std::string& path) {
    auto info = run({"qemu-img", "info", "--output=json", path});
    EXPECT_EQ(info.exitCode, 0) << info.err;
    return Json::parse(info.out)["virtual-size"].u64();
  }
};

size_t lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// By hand, --version answers; anything else short of libvirt's four arguments is a usage error.
TEST_F(HookTest, PrintsItsVersionWhenAskedByHand) {
  CommandResult version = run({VIRT_SCRATCH_HOOK_BIN, "--version"});
  EXPECT_EQ(version.exitCode, 0) << version.err;
  // The daemon's version, as the daemon prints it: the two are built from one project version.
  // (No std::regex: GCC 12 warns inside it under the sanitizers, and warnings are errors.)
  CommandResult daemon = run({VIRT_SCRATCHD_BIN, "--version"});
  const std::string name = "virt-scratchd ";
  ASSERT_EQ(daemon.out.rfind(name, 0), 0u) << daemon.out;
  const std::string number = daemon.out.substr(name.size());
  ASSERT_GE(number.size(), 6u) << daemon.out;  // "0.1.0\n"
  EXPECT_NE(std::string("0123456789").find(number[0]), std::string::npos) << daemon.out;
  EXPECT_EQ(version.out, "virt-scratch-hook " + number);
  CommandResult help = run({VIRT_SCRATCH_HOOK_BIN, "--help"});
  EXPECT_EQ(help.exitCode, 2) << help.out;
  EXPECT_NE(help.err.find("usage:"), std::string::npos) << help.err;
}

// libvirt waits for the hook at every step of every domain, and most of a run is the loader's:
// no library that only the daemon or the CLI needs may come in, directly or through another
// (libxml2 alone would bring ICU and two compressors; the definition is read with expat), nor
// sdbus-c++ (the client library speaks sd-bus).
TEST(HookBinary, LoadsNoLibraryOnlyTheDaemonOrTheCliNeeds) {
  CommandResult ldd = run({"ldd", VIRT_SCRATCH_HOOK_BIN});
  ASSERT_EQ(ldd.exitCode, 0) << ldd.err;
  EXPECT_NE(ldd.out.find("libexpat.so"), std::string::npos) << ldd.out;
  EXPECT_NE(ldd.out.find("libsystemd.so"), std::string::npos) << ldd.out;
  for (const char* unwanted :
       {"libsdbus-c++.so", "libxml2.so", "libicuuc.so", "libvirt.so", "libglib-2.0.so",
        "libcrypto.so", "libfdisk.so", "libblkid.so", "libz.so"}) {
    EXPECT_EQ(ldd.out.find(unwanted), std::string::npos) << unwanted << " in\n" << ldd.out;
  }
}

TEST_F(HookTest, PrepareBeginMakesTheBootDisksAtTheirPoolPaths) {
  startDaemon();
  std::string vdb = imagePath(kDomainA, "vdb.raw");
  std::string vdc = imagePath(kDomainA, "vdc.qcow2");
  std::string xml = domainXml(kDomainA,
                              "<scratch:disk target='vdb' size='1G' format='raw' label='scratch'/>"
                              "<scratch:disk target='vdc' size='2G' filesystem='xfs'/>"
                              "<scratch:disk target='vdd' size='1G' attach='hotplug'/>",
                              2, {{"vdb", vdb}, {"vdc", vdc}});
  auto result = hook("prepare", "begin", xml);
  ASSERT_EQ(result.exitCode, 0) << result.err << daemonLog();
  EXPECT_EQ(result.err, "");
  auto blkid = run({"blkid", "-p", "-o", "export", vdb});
  ASSERT_EQ(blkid.exitCode, 0) << blkid.err;
  auto tags = parseExport(blkid.out);
  EXPECT_EQ(tags["TYPE"], "ext4");
  EXPECT_EQ(tags["LABEL"], "scratch");
  EXPECT_EQ(virtualSize(vdb), uint64_t{1} << 30);
  auto check = run({"qemu-img", "check", vdc});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  EXPECT_EQ(virtualSize(vdc), uint64_t{2} << 30);
  // Hot-plugged disks are the daemon's business once the domain runs.
  EXPECT_FALSE(fileExists(imagePath(kDomainA, "vdd.qcow2")));
  // libvirt may run prepare again for the same domain (a failed start retried): same images.
  auto again = hook("prepare", "begin", xml);
  EXPECT_EQ(again.exitCode, 0) << again.err;
}

TEST_F(HookTest, SizesPerVcpuDisksByTheDomainsVcpuCount) {
  startDaemon();
  const std::string disk = "<scratch:disk size-per-vcpu='1G' format='raw'/>";
  ASSERT_EQ(hook("prepare", "begin", domainXml(kDomainA, disk, 1)).exitCode, 0);
  ASSERT_EQ(hook("prepare", "begin", domainXml(kDomainB, disk, 4)).exitCode, 0);
  EXPECT_EQ(virtualSize(imagePath(kDomainA, "vdb.raw")), uint64_t{1} << 30);
  EXPECT_EQ(virtualSize(imagePath(kDomainB, "vdb.raw")), uint64_t{4} << 30);
}

// The hook reads the daemon's configuration file: every group the shipped file has, with every
// key it documents uncommented, must be one it accepts (it refused [jobs] once, and with it
// every VM start on a host with the shipped file).
TEST_F(HookTest, ReadsTheShippedConfiguration) {
  startDaemon();
  int keys = 0;
  std::string text =
      uncommentedConfig(std::string(VIRTSCRATCH_SOURCE_DIR) + "/conf/virt-scratchd.conf", &keys);
  ASSERT_GT(keys, 0) << "the shipped configuration is missing or documents no key";
  int groups = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) groups += !line.empty() && line[0] == '[';
  EXPECT_GE(groups, 7);
  std::ofstream(dir_->file("hook.conf")) << text;
  auto result = hook("prepare", "begin",
                     domainXml(kDomainA, "<scratch:disk target='vdb' size='1G' format='raw'/>"));
  ASSERT_EQ(result.exitCode, 0) << result.err << daemonLog();
  EXPECT_EQ(result.err, "");
  EXPECT_TRUE(fileExists(imagePath(kDomainA, "vdb.raw")));
}

TEST_F(HookTest, ReleaseEndRemovesBootImagesAndKeepsDomainOnes) {
  startDaemon();
  std::string xml = domainXml(kDomainA,
                              "<scratch:disk target='vdb' size='1G'/>"
                              "<scratch:disk target='vdc' size='1G' lifetime='domain'/>");
  std::string other = domainXml(kDomainB, "<scratch:disk target='vdb' size='1G'/>");
  ASSERT_EQ(hook("prepare", "begin", xml).exitCode, 0);
  ASSERT_EQ(hook("prepare", "begin", other).exitCode, 0);
  ASSERT_TRUE(fileExists(imagePath(kDomainA, "vdb.qcow2")));
  auto result = hook("release", "end", xml);
  ASSERT_EQ(result.exitCode, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_FALSE(fileExists(imagePath(kDomainA, "vdb.qcow2")));
  EXPECT_TRUE(fileExists(imagePath(kDomainA, "vdc.qcow2")));
  EXPECT_TRUE(fileExists(imagePath(kDomainB, "vdb.qcow2")));  // another domain's
  // Nothing left to release: still fine.
  EXPECT_EQ(hook("release", "end", xml).exitCode, 0);
}

// The daemon's metrics tell the hook's requests from others' (origin hook in the spec and in the
// release's options).
TEST_F(HookTest, ItsRequestsAreCountedAsTheHooksInTheMetrics) {
  startDaemon();
  std::string xml = domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>");
  ASSERT_EQ(hook("prepare", "begin", xml).exitCode, 0);
  ASSERT_EQ(hook("release", "end", xml).exitCode, 0);
  auto metrics = cli({"metrics"});
  ASSERT_EQ(metrics.exitCode, 0) << metrics.err;
  for (const char* line : {"virtscratch_requests_total{method=\"allocate\",origin=\"hook\"} 1",
                           "virtscratch_requests_total{method=\"release\",origin=\"hook\"} 1",
                           "virtscratch_requests_total{method=\"allocate\",origin=\"bus\"} 0"}) {
    EXPECT_NE(("\n" + metrics.out).find("\n" + std::string(line) + "\n"), std::string::npos)
        << line << "\n"
        << metrics.out;
  }
}

TEST_F(HookTest, OtherOperationsReturnAtOnceWithoutReadingStdinOrTouchingTheBus) {
  // A socket that stands for the bus: any connection attempt would wait in its backlog.
  std::string socketPath = dir_->file("fake_bus");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socketPath.copy(address.sun_path, sizeof address.sun_path - 1);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(listen(listener, 16), 0);
  // More than a pipe holds, and not even XML: none of it may matter.
  std::string input(1 << 20, 'x');
  std::string bus = "unix:path=" + socketPath;
  for (auto [operation, sub] :
       std::vector<std::pair<std::string, std::string>>{{"prepare", "end"},
                                                        {"start", "begin"},
                                                        {"started", "begin"},
                                                        {"stopped", "end"},
                                                        {"release", "begin"},
                                                        {"migrate", "end"},
                                                        {"restore", "begin"},
                                                        {"reconnect", "begin"},
                                                        {"attach", "begin"}}) {
    auto result = hook(operation, sub, input, bus);
    EXPECT_EQ(result.exitCode, 0) << operation << " " << sub << ": " << result.err;
    EXPECT_EQ(result.err, "") << operation << " " << sub;
  }
  EXPECT_LT(accept(listener, nullptr, nullptr), 0);
  EXPECT_EQ(errno, EAGAIN);
  // Domains without scratch disks do not reach the bus at prepare or release either.
  std::string plain =
      "<domain><name>plain</name><uuid>" + std::string(kDomainB) + "</uuid><vcpu>1</vcpu></domain>";
  EXPECT_EQ(hook("prepare", "begin", plain, bus).exitCode, 0);
  EXPECT_EQ(hook("release", "end", plain, bus).exitCode, 0);
  EXPECT_EQ(hook("migrate", "begin", plain, bus).exitCode, 0);
  EXPECT_LT(accept(listener, nullptr, nullptr), 0);
  EXPECT_EQ(errno, EAGAIN);
  close(listener);
}

TEST_F(HookTest, FailsClosedWithOneLineWhenTheDaemonIsDown) {
  std::string xml = domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>");
  auto result = hook("prepare", "begin", xml);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_TRUE(result.err.starts_with(
      "virt-scratch: cannot make scratch disk vdb for domain 'vm-6f2b': virt-scratchd is not "
      "running"))
      << result.err;
  EXPECT_NE(result.err.find("fail=open"), std::string::npos) << result.err;
  result = hook("release", "end", xml);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_TRUE(
      result.err.starts_with("virt-scratch: cannot release the scratch disks of domain "
                             "'vm-6f2b': virt-scratchd is not running"))
      << result.err;
}

TEST_F(HookTest, RefusesADefinitionLargerThanFourMebibytes) {
  std::string xml = domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>");
  xml.insert(xml.find("<devices>"), "<description>" + std::string(4 << 20, 'a') + "</description>");
  auto result = hook("prepare", "begin", xml);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err.substr(0, 500);
  EXPECT_NE(result.err.find("longer than 4194304 bytes"), std::string::npos) << result.err;
}

TEST_F(HookTest, FailsOpenWhenConfiguredSo) {
  writeHookConfig("open", "30s");
  std::string xml = domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>");
  auto result = hook("prepare", "begin", xml);
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find("virt-scratchd is not running"), std::string::npos) << result.err;
  // Without any bus at all, too.
  result = hook("prepare", "begin", xml, "unix:path=" + dir_->file("no_such_socket"));
  EXPECT_EQ(result.exitCode, 0) << result.err;
}

TEST_F(HookTest, GivesUpAfterTheConfiguredTimeout) {
  startDaemon();
  writeHookConfig("closed", "300ms");
  kill(daemon_->pid(), SIGSTOP);
  auto start = std::chrono::steady_clock::now();
  auto result =
      hook("prepare", "begin", domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>"));
  auto took = std::chrono::steady_clock::now() - start;
  kill(daemon_->pid(), SIGCONT);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find("did not answer"), std::string::npos) << result.err;
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(HookTest, GivesUpWhenTheBusItselfHangs) {
  // A stopped dbus-daemon: the socket connects, and nothing answers the authentication. sd-bus
  // would wait for it far longer than the hook's deadline; the client library does not.
  writeHookConfig("closed", "300ms");
  std::string socketPath = dir_->file("hung_bus");
  // The socket file appears at bind(), before listen(); the printed address means it listens.
  std::string log = dir_->file("hung_bus.log");
  Child bus({"dbus-daemon", "--session", "--nofork", "--print-address",
             "--address=unix:path=" + socketPath},
            log);
  auto listening = [&] { return readFile(log).find("unix:path=") != std::string::npos; };
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!listening() && std::chrono::steady_clock::now() < until) {
    ASSERT_FALSE(bus.exited()) << readFile(log);
  }
  ASSERT_TRUE(listening()) << readFile(log);
  kill(bus.pid(), SIGSTOP);
  auto start = std::chrono::steady_clock::now();
  auto result =
      hook("prepare", "begin", domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>"),
           "unix:path=" + socketPath);
  auto took = std::chrono::steady_clock::now() - start;
  kill(bus.pid(), SIGCONT);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find("the system bus did not answer in time"), std::string::npos)
      << result.err;
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(HookTest, RefusesBadMetadataNamingTheAttributeEvenWhenFailingOpen) {
  startDaemon();
  writeHookConfig("open", "30s");
  auto result = hook("prepare", "begin",
                     domainXml(kDomainA, "<scratch:disk target='vdb' size='1G' format='qcow3'/>"));
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find("format='qcow3'"), std::string::npos) << result.err;
  EXPECT_EQ(poolFiles().size(), 0u) << "the pool holds files after bad metadata";
}

TEST_F(HookTest, FailsWhenTheDomainsDiskIsNotThePoolImage) {
  startDaemon();
  std::string elsewhere = dir_->file("elsewhere.qcow2");
  auto result =
      hook("prepare", "begin",
           domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>", 2, {{"vdb", elsewhere}}));
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find(elsewhere), std::string::npos) << result.err;
  EXPECT_NE(result.err.find(imagePath(kDomainA, "vdb.qcow2")), std::string::npos) << result.err;
}

TEST_F(HookTest, MigrateBeginMakesTheAttachedScratchDisksEmptyAndPrintsNothing) {
  startDaemon();
  std::string vdb = imagePath(kDomainA, "vdb.qcow2");
  std::string vdc = imagePath(kDomainA, "vdc.raw");
  std::string xml = domainXml(kDomainA,
                              "<scratch:disk target='vdb' size='3G' lifetime='domain'/>"
                              "<scratch:disk target='vdc' size='1G' format='raw' label='s'/>"
                              "<scratch:disk target='vdd' size='1G' attach='hotplug'/>",
                              2, {{"vdb", vdb}, {"vdc", vdc}});
  auto result = hook("migrate", "begin", xml);
  ASSERT_EQ(result.exitCode, 0) << result.err << daemonLog();
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(result.out, "") << "libvirt would take the hook's output for the domain's XML";
  EXPECT_EQ(virtualSize(vdb), uint64_t{3} << 30);
  EXPECT_EQ(virtualSize(vdc), uint64_t{1} << 30);
  // Empty: the storage copy brings the filesystem.
  auto map = run({"qemu-img", "map", "--output=json", vdb});
  EXPECT_EQ(map.out.find("\"data\": true"), std::string::npos) << map.out;
  EXPECT_NE(run({"blkid", "-p", vdc}).exitCode, 0) << "a filesystem was written into " << vdc;
  // Not attached on the source (a hot-plug disk that was not plugged): nothing to copy.
  EXPECT_FALSE(fileExists(imagePath(kDomainA, "vdd.qcow2")));
  // Then libvirt prepares the incoming domain: the same images, kept as they are.
  auto prepared = hook("prepare", "begin", xml);
  ASSERT_EQ(prepared.exitCode, 0) << prepared.err;
  EXPECT_NE(run({"blkid", "-p", vdc}).exitCode, 0) << "prepare formatted the incoming image";
  // A second migration into a host that has the disk already is refused, naming it.
  auto again = hook("migrate", "begin", xml);
  EXPECT_EQ(again.exitCode, 1);
  EXPECT_EQ(lines(again.err), 1u) << again.err;
  EXPECT_NE(again.err.find("scratch disk vdb"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("virt-scratch release"), std::string::npos) << again.err;
  EXPECT_TRUE(fileExists(vdb));
}

TEST_F(HookTest, MigrateBeginRefusesWithOneLineAndReleasesWhatItMade) {
  DaemonConfig config;
  config.limits = "max-size=2G\n";
  startDaemon(config);
  std::string vdb = imagePath(kDomainA, "vdb.qcow2");
  std::string vdc = imagePath(kDomainA, "vdc.qcow2");
  std::string xml = domainXml(kDomainA,
                              "<scratch:disk target='vdb' size='1G'/>"
                              "<scratch:disk target='vdc' size='3G'/>",
                              2, {{"vdb", vdb}, {"vdc", vdc}});
  auto result = hook("migrate", "begin", xml);
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_TRUE(result.err.starts_with(
      "virt-scratch: cannot take in domain 'vm-6f2b' by migration: scratch disk vdc: "))
      << result.err;
  EXPECT_NE(result.err.find("max-size"), std::string::npos) << result.err;
  EXPECT_EQ(poolFiles().size(), 0u) << "vdb, made before vdc was refused, stayed";
}

TEST_F(HookTest, MigrateBeginFailsClosedEvenWhenConfiguredToFailOpen) {
  writeHookConfig("open", "30s");
  std::string vdb = imagePath(kDomainA, "vdb.qcow2");
  auto result =
      hook("migrate", "begin",
           domainXml(kDomainA, "<scratch:disk target='vdb' size='1G'/>", 2, {{"vdb", vdb}}));
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_EQ(lines(result.err), 1u) << result.err;
  EXPECT_NE(result.err.find("virt-scratchd is not running"), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("fail=open"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace virtscratch::test
