// Symlinks planted in the pool before the daemon starts and swapped in while it runs are never
// followed; hostile arguments of the client commands get their exit status; a hostile
// configuration keeps the daemon from starting, naming what is wrong.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "tests/integration/daemon/daemon_hostile.h"

namespace virtscratch::test {
namespace {

TEST_F(DaemonHostile, NeverFollowsSymlinksPlantedInThePoolBeforeStart) {
  std::string pool = poolPath();
  fs::create_directories(pool);
  fs::create_directory_symlink(outside_, pool + "/" + kDomainA);
  fs::create_directory(pool + "/" + std::string(kDomainB));
  fs::create_symlink(outside_ + "/secret", pool + "/" + kDomainB + "/vdb.qcow2");
  fs::create_symlink(outside_ + "/secret", pool + "/" + kDomainB + "/vdc.record");
  writeFileAt(pool + "/" + kDomainC, 0, "a file where a directory belongs");
  fs::create_directory_symlink(outside_, pool + "/.templates");
  auto before = treeSnapshot(outside_);
  DaemonConfig config;
  config.templates = "reflink";
  startDaemon(config);
  ManagerClient manager(bus());
  const Spec ok = {{"size", sdbus::Variant(kGiB)}};
  auto withTarget = [&ok](const std::string& target) {
    Spec s = ok;
    s["target"] = str(target);
    return s;
  };
  expectError(
      "a domain directory that is a symlink", [&] { allocate(manager, kDomainA, ok); }, "Failed",
      std::string(kDomainA) + "' is not a directory");
  expectError(
      "an image file that is a symlink", [&] { allocate(manager, kDomainB, ok); }, "AlreadyExists",
      "vdb.qcow2");
  expectError(
      "a domain directory that is a file", [&] { allocate(manager, kDomainC, ok); }, "Failed",
      std::string(kDomainC) + "' is not a directory");
  // The planted directory holds no image of the daemon's: nothing to release, nothing deleted.
  EXPECT_EQ(manager.ReleaseDomain(kDomainA, {}), 0u);
  // A record planted as a symlink is replaced by the real record, not written through.
  allocate(manager, kDomainB, withTarget("vdc"));
  struct stat st;
  ASSERT_EQ(lstat((pool + "/" + kDomainB + "/vdc.record").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  // The template cache is off rather than written through its symlink; images are still made.
  allocate(manager, kDomainD, ok);
  EXPECT_NE(daemonLog().find("templates off"), std::string::npos) << daemonLog();
  EXPECT_EQ(readFile(outside_ + "/secret"), "the secret");
  EXPECT_EQ(treeSnapshot(outside_), before) << "something was written through a planted symlink";
  EXPECT_TRUE(fs::is_symlink(pool + "/" + kDomainA));
  EXPECT_TRUE(fs::is_symlink(pool + "/" + kDomainB + "/vdb.qcow2"));
  std::printf("[ hostile  ] pool symlinks before start: %d cases\n", cases_ + 2);
  expectStillServing();
}

// Symlinks swapped in while the daemon runs: the image's domain directory replaced by a symlink
// to a directory outside that holds a file of the image's name, and an image file replaced by a
// symlink. Exporting or releasing must not read or delete anything outside the pool.
TEST_F(DaemonHostile, NeverFollowsSymlinksSwappedIntoThePoolWhileRunning) {
  startDaemon();
  ManagerClient manager(bus());
  sdbus::ObjectPath a = allocate(manager, kDomainA, {{"size", sdbus::Variant(kGiB)}});
  sdbus::ObjectPath b = allocate(manager, kDomainB, {{"size", sdbus::Variant(kGiB)}});
  std::string pool = poolPath();
  writeFileAt(outside_ + "/vdb.qcow2", 0, "not an image: exporting it would leak it");
  fs::rename(pool + "/" + kDomainA, pool + "/moved-away");
  fs::create_directory_symlink(outside_, pool + "/" + kDomainA);
  fs::rename(pool + "/" + kDomainB + "/vdb.qcow2", pool + "/moved-image");
  fs::create_symlink(outside_ + "/secret", pool + "/" + kDomainB + "/vdb.qcow2");
  auto before = treeSnapshot(outside_);
  std::string dest = dir_->file("leak.gz");
  JobSignals signals;
  auto slot = watchJobs(bus(), signals);
  for (const auto& image : {a, b}) {
    SCOPED_TRACE(image);
    Outcome got = outcomeOf([&] {
      sdbus::ObjectPath job = manager.Export(image, newOutput(dest), {});
      ASSERT_TRUE(pumpUntil([&] { return signals.completed.count(job) != 0; }));
      if (!signals.completed[job].first) {
        throw sdbus::Error("job.Failed", signals.completed[job].second);
      }
    });
    ++cases_;
    EXPECT_FALSE(got.name.empty()) << "an image reached through a symlink was exported";
    EXPECT_NE(got.message.find("vdb.qcow2"), std::string::npos) << got.message;
    EXPECT_EQ(fs::file_size(dest), 0u);
    fs::remove(dest);
  }
  expectError(
      "releasing an image whose directory is a symlink", [&] { ImageClient(bus(), a).Release({}); },
      "Failed", a.substr(a.rfind('/') + 1));
  ImageClient(bus(), b).Release({});  // removes the planted link itself, not what it points to
  EXPECT_FALSE(fs::exists(fs::symlink_status(pool + "/" + kDomainB + "/vdb.qcow2")));
  EXPECT_EQ(readFile(outside_ + "/secret"), "the secret");
  EXPECT_EQ(treeSnapshot(outside_), before) << "something outside the pool changed";
  std::printf("[ hostile  ] pool symlinks while running: %d cases\n", cases_ + 1);
  fs::remove(pool + "/" + kDomainA);
  fs::rename(pool + "/moved-away", pool + "/" + kDomainA);
  expectStillServing();
}

// The command line's client commands, run against the daemon as users run them.
TEST_F(DaemonHostile, ClientCommandsRefuseHostileArgumentsWithTheirExitStatus) {
  startDaemon();
  ManagerClient manager(bus());
  sdbus::ObjectPath image = allocate(manager, kDomainA, {{"size", sdbus::Variant(kGiB)}});
  std::string id = image.substr(image.rfind('/') + 1);
  fs::create_symlink(outside_ + "/secret", dir_->file("link-to-secret"));
  auto before = outsideTree();
  struct Command {
    std::vector<std::string> args;
    int exitCode;
    std::string names;
    bool asNobody = false;
  };
  const std::string a = kDomainA;
  std::vector<Command> commands = {
      {{"allocate", "../etc", "--size", "1G"}, 1, "'../etc'"},
      {{"allocate", "vm\x1b[2J", "--size", "1G"}, 1, "control character"},
      {{"allocate", a, "--size", "1e9"}, 2, "'1e9'"},
      {{"allocate", a, "--size", "18446744073709551616"}, 2, "too large"},
      {{"allocate", a, "--size", "65T"}, 2, "above the maximum"},
      {{"allocate", a, "--size", "-1"}, 2, "negative"},
      {{"allocate", a, "--size", "1G", "--target", "../../etc"}, 1, "target '../../etc'"},
      {{"allocate", a, "--size", "1G", "--target", "vdb\xff"}, 2, "--target"},
      {{"allocate", a, "--size-per-vcpu", "1G", "--vcpus", "4294967296"}, 2, "'4294967296'"},
      {{"allocate", a, "--size-per-vcpu", "1G", "--vcpus", "-1"}, 2, "'-1'"},
      {{"allocate", a, "--size", "1G", "--lifetime", "forever"}, 1, "'forever'"},
      {{"allocate", a, "--size", "1G", "--format", "vmdk"}, 1, "'vmdk'"},
      {{"allocate", a, "--size", "1G", "--content", "/etc"}, 1, "'/etc'"},
      {{"allocate", a, "--size", "1G", "--content", contentPath() + "/escape"}, 1, outside_},
      {{"allocate", a, "--size", "1G", "--sizes", "2G"}, 2, "'--sizes'"},
      {{"allocate", kDomainB, "--size", "1G"}, 1, "polkit is not running", true},
      {{"release", "../../etc"}, 1, "'../../etc'"},
      {{"release", "no-such-vm"}, 1, "'no-such-vm'"},
      {{"release", "/org/virtscratch/Scratch1/image/../x"}, 2, "/org/virtscratch/Scratch1/image"},
      {{"release", id}, 1, "polkit is not running", true},
      {{"show", "../x"}, 2, "'../x'"},
      {{"show", std::string(32, 'f') + "_vdb"}, 1, std::string(32, 'f') + "_vdb"},
      {{"export", "--daemon", id, dir_->path() + "/"}, 1, "names a directory"},
      {{"export", "--daemon", id, dir_->file("link-to-secret")}, 1, "link-to-secret"},
      {{"export", "--daemon", id, dir_->file("missing/out.gz")}, 1, "missing"},
      {{"export", "--daemon", std::string(32, 'f') + "_vdb", dir_->file("x.gz")}, 1, "ffff_vdb"},
      {{"export", "--daemon", "--level", "0", id, dir_->file("x.gz")}, 1, "'level' is 0"},
      {{"export", "--daemon", id, "-"}, 1, "polkit is not running", true},
      // The file is opened by the command, as the user: nobody cannot write in the test's folder.
      {{"export", "--daemon", id, dir_->file("nobody.gz")}, 1, "Permission denied", true},
      {{"status", "extra"}, 2, "status"},
      {{"list", "--all"}, 2, "'--all'"},
  };
  int count = 0;
  for (const Command& c : commands) {
    std::string line;
    for (const auto& arg : c.args) line += arg.substr(0, 60) + " ";
    SCOPED_TRACE(line);
    auto result = cli(c.args, c.asNobody);
    ++count;
    EXPECT_EQ(result.exitCode, c.exitCode) << result.err;
    EXPECT_NE(result.err.find(c.names), std::string::npos) << result.err;
    EXPECT_EQ(result.out, "");
  }
  std::printf("[ hostile  ] client commands: %d cases\n", count);
  EXPECT_EQ(readFile(outside_ + "/secret"), "the secret");
  EXPECT_EQ(outsideTree(), before) << "something outside the pool changed";
  EXPECT_EQ(manager.ImageCount(), 1u);
  expectStillServing();
}

// The real daemon binary with a hostile configuration: it refuses to start, exit status 1 (2 for
// a bad command line), naming the file, the line and the value, and creates no pool.
TEST(DaemonHostileConfig, TheDaemonRefusesToStartWithAHostileConfiguration) {
  TempDir dir;
  std::string conf = dir.file("virt-scratchd.conf");
  std::string pool = dir.file("pool");
  struct Case {
    std::string what;
    std::string text;
    std::string names;
  };
  std::vector<Case> cases = {
      {"a quota past 64 bits", "[pool]\npath=" + pool + "\nquota=99999999999999999999\n",
       conf + ":3: [pool] quota"},
      {"an unknown group", "[pool]\npath=" + pool + "\n[evil]\nx=y\n", conf + ":3: unknown group"},
      {"a relative pool path", "[pool]\npath=../pool\n", "'../pool' is not an absolute path"},
      {"a pool path with a newline", "[pool]\npath=" + pool + "\\nx\n", "control character"},
      {"an unknown template mode", "[pool]\npath=" + pool + "\n[templates]\nmode=fastest\n",
       "'fastest'"},
  };
  int count = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    unlink(conf.c_str());
    writeFileAt(conf, 0, c.text);
    auto result = run({"timeout", "20", VIRT_SCRATCHD_BIN, "--config", conf});
    ++count;
    EXPECT_EQ(result.exitCode, 1) << result.err;
    EXPECT_NE((result.out + result.err).find(c.names), std::string::npos)
        << result.out << result.err;
    EXPECT_FALSE(fs::exists(pool));
  }
  unlink(conf.c_str());
  mkfifo(conf.c_str(), 0644);
  auto fifo = run({"timeout", "20", VIRT_SCRATCHD_BIN, "--config", conf});
  EXPECT_EQ(fifo.exitCode, 1) << "a FIFO as the configuration: " << fifo.err;
  EXPECT_NE((fifo.out + fifo.err).find("is not a file"), std::string::npos) << fifo.err;
  auto noValue = run({"timeout", "20", VIRT_SCRATCHD_BIN, "--config"});
  EXPECT_EQ(noValue.exitCode, 2) << noValue.err;
  auto unknown = run({"timeout", "20", VIRT_SCRATCHD_BIN, "--pool=/etc"});
  EXPECT_EQ(unknown.exitCode, 2) << unknown.err;
  EXPECT_NE((unknown.out + unknown.err).find("--pool=/etc"), std::string::npos) << unknown.err;
  count += 3;
  std::printf("[ hostile  ] daemon configuration and command line: %d cases\n", count);
}

}  // namespace
}  // namespace virtscratch::test
