// Who may change the pool, decided by a real polkitd with the project's actions and rules: the
// shipped rules grant group libvirt; everyone else is refused naming the action; root needs no
// polkit; polkitd not running is said so; a rules change counts at once, without a restart.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/integration/daemon/polkit_fixture.h"

namespace virtscratch::test {
namespace {

constexpr char kJobInterface[] = "org.virtscratch.Scratch1.Job";

std::string imageId(const std::string& path) { return path.substr(path.rfind('/') + 1); }

TEST_F(PolkitTest, MembersOfTheGrantedGroupMayAllocateReleaseExportAndCancel) {
  startPolkit();
  startDaemon();
  auto made = cliAs(kMember, {"allocate", kDomainA, "--size", "1G"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  ASSERT_TRUE(fileExists(poolPath() + "/" + kDomainA + "/vdb.qcow2"));
  std::string id = std::string(kDomainA).erase(8, 1).erase(12, 1).erase(16, 1).erase(20, 1);
  id += "_vdb";

  // A directory only group libvirt may write in: the export passes the daemon's permission
  // check only with the groups the bus reports for the member's connection.
  std::string out = dir_->file("libvirt-only");
  ASSERT_EQ(mkdir(out.c_str(), 0770), 0);
  ASSERT_EQ(chown(out.c_str(), 0, gidOf("libvirt")), 0);
  ASSERT_EQ(chmod(out.c_str(), 0770), 0);  // past the umask
  auto exported = cliAs(kMember, {"export", "--daemon", id, out + "/a.gz"});
  ASSERT_EQ(exported.exitCode, 0) << exported.err;
  EXPECT_EQ(run({"gunzip", "-t", out + "/a.gz"}).exitCode, 0);

  // Cancel: an export started by root into a pipe that nobody reads until both Cancels are
  // answered, so it cannot end before them (it waits once the pipe is full: 512 MiB of written
  // zeros give about 500 KiB of gzip). It once ended first under load, into a file.
  ManagerClient manager(bus());
  auto big =
      allocate(manager, kDomainB, imageSpec(uint64_t{512} << 20, "raw", "none", "vdc", "full"));
  JobSignals signals;
  auto watch = watchJobs(bus(), signals);
  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  UniqueFd reader(ends[0]);
  std::string job = manager.Export(
      big, sdbus::UnixFd(ends[1], sdbus::adopt_fd),
      {{"level", sdbus::Variant(uint32_t{9})}, {"threads", sdbus::Variant(uint32_t{1})}});
  auto refused = busctlAs(kOther, {"org.virtscratch.Scratch1", job, kJobInterface, "Cancel"});
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_NE(refused.err.find("org.virtscratch.scratch1.cancel"), std::string::npos) << refused.err;
  auto cancelled = busctlAs(kMember, {"org.virtscratch.Scratch1", job, kJobInterface, "Cancel"});
  EXPECT_EQ(cancelled.exitCode, 0) << cancelled.err;
  // Read what it wrote until the daemon closes its end: the job has ended.
  char buffer[65536];
  while (read(reader.get(), buffer, sizeof buffer) > 0) {
  }
  ASSERT_TRUE(pumpUntil([&] { return signals.completed.contains(job); }));
  EXPECT_FALSE(signals.completed[job].first) << "the export ended despite the member's Cancel";
  EXPECT_NE(signals.completed[job].second.find("cancel"), std::string::npos)
      << signals.completed[job].second;

  auto released = cliAs(kMember, {"release", kDomainA});
  EXPECT_EQ(released.exitCode, 0) << released.err;
  EXPECT_FALSE(fileExists(poolPath() + "/" + kDomainA + "/vdb.qcow2"));
}

TEST_F(PolkitTest, OthersAreDeniedNamingTheAction) {
  startPolkit();
  startDaemon();
  ManagerClient manager(bus());
  std::string id = imageId(allocate(manager, kDomainA, imageSpec(1 << 30, "qcow2", "ext4")));
  std::vector<std::string> before = poolFiles();
  std::string out = dir_->file("open");
  ASSERT_EQ(mkdir(out.c_str(), 0777), 0);
  ASSERT_EQ(chmod(out.c_str(), 0777), 0);
  struct Attempt {
    std::vector<std::string> args;
    std::string action;
  };
  std::vector<Attempt> attempts = {
      {{"allocate", kDomainB, "--size", "1G"}, "org.virtscratch.scratch1.allocate"},
      {{"release", id}, "org.virtscratch.scratch1.release"},
      {{"release", kDomainA}, "org.virtscratch.scratch1.release"},
      {{"export", "--daemon", id, out + "/x.gz"}, "org.virtscratch.scratch1.export"},
  };
  std::string uid = "uid " + std::to_string(uidOf(kOther));
  for (const Attempt& a : attempts) {
    SCOPED_TRACE(a.args[0] + " " + a.args[1]);
    auto result = cliAs(kOther, a.args);
    EXPECT_EQ(result.exitCode, 1) << result.out;
    EXPECT_NE(result.err.find(uid + " is not authorized by polkit for " + a.action),
              std::string::npos)
        << result.err;
  }
  EXPECT_EQ(poolFiles(), before);
  EXPECT_FALSE(fileExists(out + "/x.gz"));
  // Reading stays open.
  auto list = cliAs(kOther, {"list", "--json"});
  EXPECT_EQ(list.exitCode, 0) << list.err;
  EXPECT_NE(list.out.find(id), std::string::npos) << list.out;
}

TEST_F(PolkitTest, RootNeedsNoPolkitAndOthersAreToldItIsNotRunning) {
  startPolkit();
  startDaemon();
  stopPolkit();
  ManagerClient manager(bus());
  std::string image = allocate(manager, kDomainA, imageSpec(1 << 30, "qcow2", "ext4"));
  EXPECT_TRUE(fileExists(poolPath() + "/" + kDomainA + "/vdb.qcow2"));
  auto denied = cliAs(kMember, {"allocate", kDomainB, "--size", "1G"});
  EXPECT_EQ(denied.exitCode, 1);
  EXPECT_NE(denied.err.find("polkit is not running"), std::string::npos) << denied.err;
  EXPECT_NE(denied.err.find("org.virtscratch.scratch1.allocate"), std::string::npos) << denied.err;
  EXPECT_FALSE(fileExists(poolPath() + "/" + kDomainB));
  ImageClient(bus(), image).Release({});
  EXPECT_FALSE(fileExists(poolPath() + "/" + kDomainA + "/vdb.qcow2"));
}

TEST_F(PolkitTest, ARulesChangeCountsWithoutRestartingTheDaemon) {
  startPolkit();
  startDaemon();
  pid_t daemonPid = daemon_->pid();
  ASSERT_EQ(cliAs(kMember, {"allocate", kDomainA, "--size", "1G"}).exitCode, 0);

  // An administrator's rule, read before the shipped one (50 < 60), takes libvirt's right away
  // and gives it to another group instead.
  writeAdminRules("50-test.rules", std::string(R"(
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.virtscratch.scratch1.") == 0) {
        if (subject.isInGroup(")") + kOthersGroup +
                                       R"(")) return polkit.Result.YES;
        if (subject.isInGroup("libvirt")) return polkit.Result.NO;
    }
});
)");
  // polkitd reloads its rules when the directory changes: ask until the answer changes.
  CommandResult member;
  ASSERT_TRUE(pumpUntil(
      [&] {
        member = cliAs(kMember, {"allocate", kDomainB, "--size", "1G"});
        return member.exitCode != 0;
      },
      30s))
      << "the member is still allowed after the rules changed: " << polkitLog();
  EXPECT_NE(member.err.find("org.virtscratch.scratch1.allocate"), std::string::npos) << member.err;
  auto other = cliAs(kOther, {"allocate", kDomainB, "--size", "1G"});
  EXPECT_EQ(other.exitCode, 0) << other.err;
  EXPECT_TRUE(fileExists(poolPath() + "/" + kDomainB + "/vdb.qcow2"));
  EXPECT_EQ(nameOwnerPid(), daemonPid);
}

}  // namespace
}  // namespace virtscratch::test
