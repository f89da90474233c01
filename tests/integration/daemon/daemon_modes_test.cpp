// Private by default: what the real virt-scratchd makes in its pool is readable by root only
// (images and records 0600, domain directories 0711, the templates directory 0700), whatever the
// umask it was started with; a pool made before is tightened when the daemon starts.
#include <sys/stat.h>

#include <filesystem>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

using DaemonModes = DaemonTest;
namespace fs = std::filesystem;

constexpr uint64_t kGiB = uint64_t{1} << 30;

mode_t modeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// `cat` as nobody: whether an unprivileged local user can read the file.
CommandResult readAsNobody(const std::string& path) {
  return run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat", path});
}

TEST_F(DaemonModes, ImagesRecordsAndDirectoriesArePrivateWhateverTheUmask) {
  mode_t old = umask(0);  // the daemon inherits it: modes must not depend on it
  startDaemon();
  umask(old);
  ManagerClient manager(bus());
  auto image = allocate(manager, kDomainA, {{"size", sdbus::Variant(kGiB)}});
  std::string file = ImageClient(bus(), image).Path();
  std::string domainDir = poolPath() + "/" + kDomainA;
  EXPECT_EQ(modeOf(file), 0600u) << file;
  EXPECT_EQ(modeOf(domainDir + "/vdb.record"), 0600u);
  EXPECT_EQ(modeOf(domainDir), 0711u);
  EXPECT_EQ(modeOf(poolPath() + "/.templates"), 0700u);

  auto read = readAsNobody(file);
  EXPECT_NE(read.exitCode, 0) << "nobody read the image";
  EXPECT_NE(read.err.find("Permission denied"), std::string::npos) << read.err;
  EXPECT_EQ(read.out, "");
  read = readAsNobody(domainDir + "/vdb.record");
  EXPECT_NE(read.err.find("Permission denied"), std::string::npos) << read.err;
  // Listing the domain directory is denied too; only traversal (for QEMU) is allowed.
  auto list =
      run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "ls", domainDir});
  EXPECT_NE(list.exitCode, 0);
  EXPECT_NE(list.err.find("Permission denied"), std::string::npos) << list.err;
}

// QEMU, as the qemu user, opens the template that backs an overlay: only then may it traverse.
TEST_F(DaemonModes, TheTemplatesDirectoryIsTraversableOnlyWhenTemplatesBackOverlays) {
  startDaemon({.templates = "overlay"});
  bool overlays = daemonLog().find("qcow2 overlay") != std::string::npos;  // no reflink here
  EXPECT_EQ(modeOf(poolPath() + "/.templates"), overlays ? 0711u : 0700u) << daemonLog();
  ASSERT_EQ(stopDaemon(), 0);
  startDaemon({.templates = "off"});
  EXPECT_EQ(modeOf(poolPath() + "/.templates"), 0700u) << daemonLog();
}

TEST_F(DaemonModes, StartingTightensThePoolMadeBefore) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = allocate(
      manager, kDomainA,
      {{"size", sdbus::Variant(kGiB)}, {"lifetime", sdbus::Variant(std::string("manual"))}});
  std::string file = ImageClient(bus(), image).Path();
  ASSERT_EQ(stopDaemon(), 0);
  std::string domainDir = poolPath() + "/" + kDomainA;
  // As the daemon of before made them.
  ASSERT_EQ(chmod(file.c_str(), 0644), 0);
  ASSERT_EQ(chmod((domainDir + "/vdb.record").c_str(), 0644), 0);
  ASSERT_EQ(chmod(domainDir.c_str(), 0755), 0);
  ASSERT_EQ(chmod((poolPath() + "/.templates").c_str(), 0711), 0);
  ASSERT_EQ(readAsNobody(file).exitCode, 0);

  startDaemon();
  EXPECT_EQ(modeOf(file), 0600u);
  EXPECT_EQ(modeOf(domainDir + "/vdb.record"), 0600u);
  EXPECT_EQ(modeOf(domainDir), 0711u);
  EXPECT_EQ(modeOf(poolPath() + "/.templates"), 0700u);
  EXPECT_NE(readAsNobody(file).exitCode, 0);
  std::string log = daemonLog();
  EXPECT_NE(log.find("modes tightened: "), std::string::npos) << log;
  EXPECT_NE(log.find("'" + std::string(kDomainA) + "' 0755 -> 0711"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string(kDomainA) + "/vdb.record' 0644 -> 0600"), std::string::npos)
      << log;
  EXPECT_NE(log.find(std::string(kDomainA) + "/vdb.qcow2' 0644 -> 0600"), std::string::npos) << log;
  EXPECT_NE(log.find("'.templates' 0711 -> 0700"), std::string::npos) << log;
  EXPECT_EQ(ManagerClient(bus()).ImageCount(), 1u) << "the image was not adopted again";
}

}  // namespace
}  // namespace virtscratch::test
