// Hostile calls of the other methods of the real virt-scratchd: Export, ReleaseDomain, objects
// and domains that do not exist, and wrong signatures. Each gets its named error and a message
// naming the bad value; nothing appears outside the pool and the daemon goes on serving.
#include "tests/integration/daemon/daemon_hostile.h"

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
  sdbus::ObjectPath image = manager.Allocate(kDomainA, {{"size", sdbus::Variant(kGiB)}});
  std::string id = image.substr(image.rfind('/') + 1);
  writeFileAt(dir_->file("existing.gz"), 0, "keep");
  fs::create_symlink(outside_ + "/secret", dir_->file("link-to-secret"));
  fs::create_symlink(outside_ + "/created-through-a-link", dir_->file("dangling"));
  auto before = outsideTree();
  auto exportTo = [&](const std::string& dest, Spec options = {}) {
    return [&, dest, options] { manager.Export(image, dest, options); };
  };
  const std::string inv = "InvalidArgument", exists = "AlreadyExists";
  const std::string long5000 = dir_->path() + "/" + std::string(5000, 'x');
  const std::string name300 = dir_->file(std::string(300, 'n') + ".gz");
  const std::string out = dir_->file("out.gz");
  struct Call {
    std::string what;
    std::function<void()> call;
    std::string error, names;
  };
  std::vector<Call> calls = {
      // Export destinations.
      {"an empty destination", exportTo(""), inv, "destination '' is not an absolute path"},
      {"a destination relative to the daemon", exportTo("./out.gz"), inv, "'./out.gz'"},
      {"a destination under a tilde", exportTo("~/out.gz"), inv, "'~/out.gz'"},
      {"the root directory as destination", exportTo("/"), inv, "'/' names a directory"},
      {"a directory as destination", exportTo(dir_->path() + "/"), inv, "names a directory"},
      {"a destination ending in a dot", exportTo(dir_->path() + "/."), inv, "names a directory"},
      {"a destination ending in dots", exportTo(dir_->path() + "/.."), inv, "names a directory"},
      {"a destination in a missing directory", exportTo(dir_->file("missing/out.gz")), inv,
       "missing"},
      {"a destination under a file", exportTo(dir_->file("existing.gz/out.gz")), "AccessDenied",
       "existing.gz"},
      {"a destination of 5000 bytes", exportTo(long5000), "Failed", "xxxxxxxx"},
      {"a destination name of 300 bytes", exportTo(name300), "Failed", "nnnnnnnn"},
      {"an existing file as destination", exportTo(dir_->file("existing.gz")), exists,
       "'existing.gz' already exists"},
      {"a symlink to a file outside as destination", exportTo(dir_->file("link-to-secret")), exists,
       "'link-to-secret' exists and is not a regular file"},
      {"a dangling symlink as destination", exportTo(dir_->file("dangling")), exists,
       "'dangling' exists and is not a regular file"},
      {"traversal into a missing directory",
       exportTo(outside_ + "/../../no-such-dir-for-hostile-tests/out.gz"), inv,
       "no-such-dir-for-hostile-tests"},
      // Export options.
      {"level 10", exportTo(out, {{"level", sdbus::Variant(10u)}}), inv, "'level' is 10"},
      {"level 2^32-1", exportTo(out, {{"level", sdbus::Variant(UINT32_MAX)}}), inv, "4294967295"},
      {"level of type t", exportTo(out, {{"level", sdbus::Variant(uint64_t{1})}}), inv, "not 't'"},
      {"level of type s", exportTo(out, {{"level", str("1")}}), inv, "not 's'"},
      {"level of type i", exportTo(out, {{"level", sdbus::Variant(int32_t{1})}}), inv, "not 'i'"},
      {"257 threads", exportTo(out, {{"threads", sdbus::Variant(257u)}}), inv, "257"},
      {"2^32-1 threads", exportTo(out, {{"threads", sdbus::Variant(UINT32_MAX)}}), inv,
       "4294967295"},
      {"threads of type s", exportTo(out, {{"threads", str("4")}}), inv, "'threads'"},
      {"an option in capitals", exportTo(out, {{"Level", sdbus::Variant(1u)}}), inv, "'Level'"},
      {"an empty option", exportTo(out, {{"", sdbus::Variant(1u)}}), inv, "options key ''"},
      {"an option naming the destination", exportTo(out, {{"destination", str("/etc/x")}}), inv,
       "'destination'"},
      // Export sources.
      {"an image path with an empty id",
       [&] { manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1/image"), out, {}); },
       "NotFound", "is not an image object"},
      {"a job path as image",
       [&] { manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1/job/1"), out, {}); },
       "NotFound", "/org/virtscratch/Scratch1/job/1"},
      {"the root object as image", [&] { manager.Export(sdbus::ObjectPath("/"), out, {}); },
       "NotFound", "'/'"},
      {"an image path one level too deep",
       [&] { manager.Export(sdbus::ObjectPath(image + "/x"), out, {}); }, "NotFound", "/x'"},
      {"the image of a domain that does not exist",
       [&] {
         manager.Export(
             sdbus::ObjectPath("/org/virtscratch/Scratch1/image/" + std::string(32, 'f') + "_vdb"),
             out, {});
       },
       "NotFound", std::string(32, 'f') + "_vdb"},
      {"the image id in capitals",
       [&] {
         std::string upper = id;
         for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
         manager.Export(sdbus::ObjectPath("/org/virtscratch/Scratch1/image/" + upper), out, {});
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
  EXPECT_GE(cases_, 40);
  EXPECT_EQ(readFile(outside_ + "/secret"), "the secret");
  EXPECT_EQ(outsideTree(), before) << "something outside the pool changed";
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
             std::string("vdb"), std::string("/tmp/x.gz"), Spec{});
       }},
      {"Export with no options",
       [&] {
         proxy->callMethod("Export").onInterface(kManager).withArguments(
             sdbus::ObjectPath("/org/virtscratch/Scratch1/image/x_vdb"), std::string("/tmp/x.gz"));
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
