// The real pieces for the end-to-end tests: libvirtd and QEMU (software emulation) on the
// machine's system bus, set up by scripts/vm-env (which also links the built hook and builds the
// tiny guest), the real virt-scratchd on that bus with its pool in a temporary directory, virsh,
// and the virt-scratch command. The tests share libvirtd, the bus name and the hook, so ctest
// runs them one at a time (RESOURCE_LOCK). Single-threaded.
//
// The guest (scripts/vm-env, write_init) finds its scratch disk by filesystem label, mounts it,
// writes /marker, prints VS-DISK dev=... size=..., VS-MARKER-WRITTEN (or VS-NO-DISK) on its
// serial console, which goes to a file, and powers off; with `hold` it stays up instead.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace virtscratch::test {

using namespace std::chrono_literals;

struct Guest {
  unsigned vcpus = 1;
  std::string label = "scratch";        // the label the guest looks for
  int waitSeconds = 20;                 // how long the guest waits for the disk
  bool hold = false;                    // stay up after writing the marker
  std::vector<std::string> qcow2Disks;  // image files attached as virtio disks vda, vdb, ...
};

struct DaemonOptions {
  std::string hookFail = "closed";  // [hook] fail
  std::string templates = "off";    // [templates] mode: reflink, overlay or off
};

class VmTest : public ::testing::Test {
 public:
  static std::string vmEnv();  // scripts/vm-env
  // The hook and `virt-scratch enable` are built: tests of the scratch disks need them.
  static bool hookBuilt();
  static bool enableAvailable();

 protected:
  void SetUp() override;
  void TearDown() override;

  // A persistent domain named after the test (name() gives it), defined from `guest`.
  void defineDomain(const Guest& guest);
  // Another persistent domain, `domain`, with its serial console in consolePath(domain);
  // undefined at the end of the test too.
  void defineDomain(const std::string& domain, const Guest& guest);
  std::string consolePath(const std::string& domain) const;
  const std::string& name() const { return name_; }
  std::string uuid();
  std::string uuidOf(const std::string& domain);
  CommandResult virsh(std::vector<std::string> args);
  std::string domainState();
  std::string domainState(const std::string& domain);
  bool waitForState(const std::string& state, std::chrono::milliseconds deadline = 60s);
  bool waitForState(const std::string& domain, const std::string& state,
                    std::chrono::milliseconds deadline);
  // What the guest printed on its serial console so far.
  std::string console() const;
  bool waitForConsole(const std::string& text, std::chrono::milliseconds deadline = 60s);
  // Targets and sources of the domain's disks, as `virsh domblklist` lists them (live when it
  // runs).
  std::vector<std::pair<std::string, std::string>> blockDevices();
  // The contents of `path` in the ext filesystem of an image, read with debugfs from a raw copy.
  std::string readGuestFile(const std::string& image, const std::string& path);
  uint64_t virtualSize(const std::string& image);  // qemu-img info

  // virt-scratchd on the system bus, configured with a pool in the test's directory and
  // [libvirt] uri=qemu:///system; waits until it owns its name.
  void startDaemon(const DaemonOptions& options = {});
  int stopDaemon();  // SIGTERM; the exit code
  // SIGKILL, then waits until the process is reaped and its bus name is free again.
  void killDaemon();
  std::string daemonLog() const;
  std::string poolPath() const { return dir_->file("pool"); }
  // Where the daemon keeps a domain's image: <pool>/<uuid>/<target>.<format>.
  std::string poolImage(const std::string& target = "vdb", const std::string& format = "qcow2");
  bool waitForFile(const std::string& path, bool present, std::chrono::milliseconds deadline = 30s);

  CommandResult cli(std::vector<std::string> args);  // virt-scratch

  std::unique_ptr<TempDir> dir_;

 private:
  std::string name_;
  bool defined_ = false;
  std::vector<std::string> otherDomains_;  // defined with defineDomain(domain, guest)
  bool systemConfigSaved_ = false;
  pid_t daemonPid_ = -1;
  int lockFd_ = -1;  // /run/virt-scratch-e2e.lock, held for the test's time
};

// Waits for `done()` with short pauses until the deadline; false on timeout.
bool pollUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline);

// Creations, deletions and renames in a pool directory, its .templates and its domain
// directories (watched as they appear), and in any other directory added: the events at which a
// test kills the daemon while a request is half-done. Files made with O_TMPFILE show only when
// they are published.
class PoolWatch {
 public:
  PoolWatch();
  ~PoolWatch();
  PoolWatch(const PoolWatch&) = delete;
  PoolWatch& operator=(const PoolWatch&) = delete;

  void add(const std::string& dir);
  // `pool`, its .templates and every directory in it (again after a restart: a watch ends with
  // its directory).
  void watchPool(const std::string& pool);
  int fd() const { return fd_; }
  // Reads the queued events; counts them and watches new directories of a watched pool.
  void read();
  void drain() {
    read();
    count_ = 0;
  }
  int count() const { return count_; }

 private:
  int fd_ = -1;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory
  std::string pool_;
  int count_ = 0;
};

// A command run in the background, its output read as it comes, so that a test can act while
// it is half-way (kill the daemon after its request went out).
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);  // stdin from /dev/null
  ~Child();                                              // SIGKILL if it still runs
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads the child's output and `watch`'s events until `fired()` holds, the child ended or the
  // deadline passed.
  void waitFor(PoolWatch& watch, const std::function<bool()>& fired,
               std::chrono::milliseconds deadline);
  bool running();
  // Reads to the end and reaps the child; after `deadline` kills it and hung() says so.
  CommandResult finish(std::chrono::milliseconds deadline);
  bool hung() const { return hung_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  void pump(int timeoutMs, int extraFd);
  pid_t pid_ = -1;
  int fds_[2] = {-1, -1};  // stdout, stderr
  std::string out_, err_;
  int exitCode_ = -1;
  bool hung_ = false;
};

}  // namespace virtscratch::test
