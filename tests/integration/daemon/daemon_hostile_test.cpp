// Hostile calls of the other methods of the real virt-scratchd: Export, ReleaseDomain, objects
// and domains that do not exist, and wrong signatures. Each gets its named error and a message
// naming the bad value; nothing appears outside the pool and the daemon goes on serving.
#include "tests/integration/daemon/daemon_hostile.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

namespace virtscratch::test {
namespace {

TEST_F(DaemonHostile, OtherMethodsRefuseHostileArgumentsAndMissingObjects) {
  startDaemon();
  ManagerClient manager(bus());
  sdbus::ObjectPath image = allocate(manager, kDomainA, {{"size", sdbus::Variant(kGiB)}});
  std::string id = image.substr(image.rfind('/') + 1);
  writeFileAt(dir_->file("existing.gz"), 0, "keep");
  writeFileAt(dir_->file("empty.gz"), 0, "");
  // Descriptors a hostile caller might pass instead of an empty file open for writing.
  auto fd = [](int raw) { return sdbus::UnixFd(raw, sdbus::adopt_fd); };
  sdbus::UnixFd secretReadOnly = fd(open((outside_ + "/secret").c_str(), O_RDONLY | O_CLOEXEC));
  sdbus::UnixFd secretPath = fd(open((outside_ + "/secret").c_str(), O_PATH | O_CLOEXEC));
  sdbus::UnixFd directory = fd(open(outside_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  sdbus::UnixFd existing = fd(open(dir_->file("existing.gz").c_str(), O_WRONLY | O_CLOEXEC));
  sdbus::UnixFd appended =
      fd(open(dir_->file("existing.gz").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  sdbus::UnixFd pastStart = fd(open(dir_->file("empty.gz").c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_EQ(lseek(pastStart.get(), 4096, SEEK_SET), 4096);
  sdbus::UnixFd devNull = fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
  int sockets[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets), 0);
  sdbus::UnixFd socket = fd(sockets[0]);
  sdbus::UnixFd socketPeer = fd(sockets[1]);
  int pipeEnds[2];
  ASSERT_EQ(pipe2(pipeEnds, O_CLOEXEC | O_NONBLOCK), 0);
  sdbus::UnixFd pipeReadEnd = fd(pipeEnds[0]);
  sdbus::UnixFd nonBlockingPipe = fd(pipeEnds[1]);
  const std::string out = dir_->file("out.gz");
  sdbus::UnixFd output = newOutput(out);
  auto before = outsideTree();
  auto exportTo = [&](const sdbus::UnixFd& to, Spec options = {}) {
    return [&, options] { manager.Export(image, to, options); };
  };
  const std::string inv = "InvalidArgument";
  struct Call {
    std::string what;
    std::function<void()> call;
    std::string error, names;
  };
  std::vector<Call> calls = {
      // Export outputs: only an empty file or a blocking pipe, open for writing.
      {"a read-only descriptor of a file outside", exportTo(secretReadOnly), inv,
       "is open read-only"},
      {"an O_PATH descriptor of a file outside", exportTo(secretPath), inv, "is open read-only"},
      {"the reading end of a pipe", exportTo(pipeReadEnd), inv, "a pipe) is open read-only"},
      {"a directory", exportTo(directory), inv, "is a directory"},
      {"a file with content", exportTo(existing), inv, "existing.gz') is not empty (4 bytes)"},
      {"a file with content opened to append", exportTo(appended), inv, "is not empty"},
      {"an empty file past its start", exportTo(pastStart), inv, "is at offset 4096"},
      {"/dev/null", exportTo(devNull), inv, "'/dev/null') is a character device"},
      {"a socket", exportTo(socket), inv, "is a socket"},
      {"a non-blocking pipe", exportTo(nonBlockingPipe), inv, "O_NONBLOCK"},
      // Export options.
      {"level 10", exportTo(output, {{"level", sdbus::Variant(10u)}}), inv, "'level' is 10"},
      {"level 2^32-1", exportTo(output, {{"level", sdbus::Variant(UINT32_MAX)}}), inv,
       "4294967295"},
      {"level of type t", exportTo(output, {{"level", sdbus::Variant(uint64_t{1})}}), inv,
       "not 't'"},
      {"level of type s", exportTo(output, {{"level", str("1")}}), inv, "not 's'"},
      {"level of type i", exportTo(output, {{"level", sdbus::Variant(int32_t{1})}}), inv,
       "not 'i'"},
      {"257 threads", exportTo(output, {{"threads", sdbus::Variant(257u)}}), inv, "257"},
      {"2^32-1 threads", exportTo(output, {{"threads", sdbus::Variant(UINT32_MAX)}}), inv,
       "4294967295"},
      {"threads of type s", exportTo(output, {{"threads", str("4")}}), inv, "'threads'"},
      {"an option in capitals", exportTo(output, {{"Level", sdbus::Variant(1u)}}), inv, "'Level'"},
      {"an empty option", exportTo(output, {{"", sdbus::Variant(1u)}}), inv, "options key ''"},
      {"an option naming the destination", exportTo(output, {{"destination", str("/etc/x")}}), inv,
       "'destination'"},
      // Export sources.
      {"an image path with an empty id",
       [&] { manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1/image"), output, {}); },
       "NotFound", "is not an image object"},
      {"a job path as image",
       [&] { manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1/job/1"), output, {}); },
       "NotFound", "/org/virtscratch/Scratch1/job/1"},
      {"the root object as image", [&] { manager.Export(sdbus::ObjectPath("/"), output, {}); },
       "NotFound", "'/'"},
      {"an image path one level too deep",
       [&] { manager.Export(sdbus::ObjectPath(image + "/x"), output, {}); }, "NotFound", "/x'"},
      {"the image of a domain that does not exist",
       [&] {
         manager.Export(
             sdbus::ObjectPath("/org/virtscratch/Scratch1/image/" + std::string(32, 'f') + "_vdb"),
             output, {});
       },
       "NotFound", std::string(32, 'f') + "_vdb"},
      {"the image id in capitals",
       [&] {
         std::string upper = id;
         for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
         manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1/image/" + upper), output, {});
       },
       "NotFound", "no image"},
      // ReleaseDomain.
      {"releasing an empty domain", [&] { manager.ReleaseDomain("", {}); }, inv, "domain is empty"},
      {"releasing a path", [&] { manager.ReleaseDomain("../../etc", {}); }, inv, "'../../etc'"},
      {"releasing a domain with a newline", [&] { manager.ReleaseDomain("vm\n", {}); }, inv,
       "control character"},
      {"releasing a domain of 1025 bytes",
       [&] { manager.ReleaseDomain(std::string(1025, 'r'), {}); }, inv, "1025 bytes"},
      {"releasing a domain that does not exist", [&] { manager.ReleaseDomain("no-such-vm", {}); },
       "NotFound", "'no-such-vm'"},
      // Objects that do not exist, read-only properties, unknown members. The bus policy denies
      // writing properties and calling members it does not list before the daemon sees them.
      {"releasing an image that does not exist",
       [&] {
         ImageClient(bus(), "/org/virtscratch/Scratch1/image/" + std::string(32, 'e') + "_vdb")
             .Release({});
       },
       "org.freedesktop.DBus.Error.UnknownObject", std::string(32, 'e') + "_vdb"},
      {"cancelling a job that does not exist",
       [&] {
         auto proxy = sdbus::createProxy(bus(), "org.virtscratch.Scratch1",
                                         "/org/virtscratch/Scratch1/job/999999");
         proxy->callMethod("Cancel").onInterface("org.virtscratch.Scratch1.Job");
       },
       "org.freedesktop.DBus.Error.UnknownObject", "999999"},
      {"setting the pool quota",
       [&] {
         manager.Set("org.virtscratch.Scratch1.Manager", "PoolQuota", sdbus::Variant(uint64_t{1}));
       },
       "org.freedesktop.DBus.Error.AccessDenied", "member=\"Set\""},
      {"setting the image path",
       [&] {
         ImageClient(bus(), image)
             .Set("org.virtscratch.Scratch1.Image", "Path",
                  sdbus::Variant(std::string("/etc/passwd")));
       },
       "org.freedesktop.DBus.Error.AccessDenied", "member=\"Set\""},
      {"reading a property that does not exist",
       [&] { manager.Get("org.virtscratch.Scratch1.Manager", "PoolSecret"); },
       "org.freedesktop.DBus.Error.UnknownProperty", "PoolSecret"},
      {"calling a method that does not exist",
       [&] {
         auto proxy =
             sdbus::createProxy(bus(), "org.virtscratch.Scratch1", "/org/virtscratch/Scratch1");
         proxy->callMethod("Format")
             .onInterface("org.virtscratch.Scratch1.Manager")
             .withArguments(std::string("/"));
       },
       "org.freedesktop.DBus.Error.AccessDenied", "member=\"Format\""},
  };
  for (const Call& c : calls) expectError(c.what, c.call, c.error, c.names);
  std::printf("[ hostile  ] D-Bus Export, ReleaseDomain, objects: %d cases\n", cases_);
  EXPECT_GE(cases_, 38);
  EXPECT_EQ(readFile(outside_ + "/secret"), "the secret");
  EXPECT_EQ(outsideTree(), before) << "something outside the pool changed";
  EXPECT_EQ(readFile(dir_->file("existing.gz")), "keep");
  EXPECT_EQ(fs::file_size(out), 0u);
  EXPECT_EQ(manager.ReleaseDomain(kDomainB, {}), 0u) << "a domain with no images releases none";
  EXPECT_EQ(manager.ImageCount(), 1u);
  expectStillServing();
}

// Arguments that do not match the method's signature never reach the daemon's code; the daemon
// answers them and goes on.
TEST_F(DaemonHostile, CallsWithTheWrongSignatureAreRefused) {
  startDaemon();
  auto proxy = sdbus::createProxy(bus(), "org.virtscratch.Scratch1", "/org/virtscratch/Scratch1");
  constexpr char kManager[] = "org.virtscratch.Scratch1.Manager";
  std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"Allocate with no spec",
       [&] { proxy->callMethod("Allocate").onInterface(kManager).withArguments(kDomainA); }},
      {"Allocate with no arguments", [&] { proxy->callMethod("Allocate").onInterface(kManager); }},
      {"Allocate with a{ss}",
       [&] {
         proxy->callMethod("Allocate")
             .onInterface(kManager)
             .withArguments(kDomainA, std::map<std::string, std::string>{{"size", "1G"}});
       }},
      {"Allocate with a number as the domain",
       [&] {
         proxy->callMethod("Allocate")
             .onInterface(kManager)
             .withArguments(uint32_t{1}, Spec{{"size", sdbus::Variant(kGiB)}});
       }},
      {"Allocate with the arguments swapped",
       [&] {
         proxy->callMethod("Allocate")
             .onInterface(kManager)
             .withArguments(Spec{{"size", sdbus::Variant(kGiB)}}, std::string(kDomainA));
       }},
      {"Export with a string as the image",
       [&] {
         proxy->callMethod("Export").onInterface(kManager).withArguments(
             std::string("vdb"), sdbus::UnixFd(STDERR_FILENO), Spec{});
       }},
      {"Export with a path instead of a descriptor (the old signature)",
       [&] {
         proxy->callMethod("Export").onInterface(kManager).withArguments(
             sdbus::ObjectPath("/org/virtscratch/Scratch1/image/x_vdb"), std::string("/tmp/x.gz"),
             Spec{});
       }},
      {"Export with no options",
       [&] {
         proxy->callMethod("Export").onInterface(kManager).withArguments(
             sdbus::ObjectPath("/org/virtscratch/Scratch1/image/x_vdb"),
             sdbus::UnixFd(STDERR_FILENO));
       }},
      {"ReleaseDomain with a number",
       [&] {
         proxy->callMethod("ReleaseDomain").onInterface(kManager).withArguments(uint32_t{7});
       }},
      {"ReleaseDomain with an array",
       [&] {
         proxy->callMethod("ReleaseDomain")
             .onInterface(kManager)
             .withArguments(std::vector<std::string>{kDomainA});
       }},
      {"ListImages with an argument",
       [&] {
         proxy->callMethod("ListImages").onInterface(kManager).withArguments(std::string("x"));
       }},
  };
  int count = 0;
  for (const auto& [what, call] : calls) {
    SCOPED_TRACE(what);
    Outcome got = outcomeOf(call);
    ++count;
    // sd-bus names the error (InvalidArgs) and says what it expected.
    EXPECT_TRUE(got.name.starts_with("org.freedesktop.DBus.Error.")) << got.name;
    EXPECT_FALSE(got.message.empty());
  }
  std::printf("[ hostile  ] D-Bus signatures: %d cases\n", count);
  EXPECT_EQ(poolFiles(), std::vector<std::string>{});
  expectStillServing();
}

// Symlinks and files planted in the pool before the daemon starts: a domain directory that is a
// symlink to a directory outside, image and record files that are symlinks, a domain "directory"
// that is a file, and the template cache's directory as a symlink. Nothing is followed.

}  // namespace
}  // namespace virtscratch::test
