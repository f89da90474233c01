// The real pieces for the end-to-end tests: libvirtd and QEMU (software emulation) on the
// machine's system bus, set up by scripts/vm-env (which also links the built hook and builds the
// tiny guest), the real virt-scratchd on that bus with its pool in a temporary directory, virsh,
// and the virt-scratch command. The tests share libvirtd, the bus name and the hook, so ctest
// runs them one at a time (RESOURCE_LOCK). Single-threaded.
//
// The guest (scripts/vm-env, write_init) finds its scratch disk by filesystem label, mounts it,
// writes /marker, prints VS-DISK dev=... size=..., VS-MARKER-WRITTEN (or VS-NO-DISK) on its
// serial console, which goes to a file, and powers off; with `hold` it stays up instead. Given
// Guest::check, it checks each disk the list names instead (one VS-CHECK line per disk).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/support/test_util.h"

namespace virtscratch::test {

using namespace std::chrono_literals;

// An image attached to the guest's virtio-scsi controller.
struct GuestDisk {
  std::string path;
  std::string format = "qcow2";  // raw or qcow2
};

struct Guest {
  unsigned vcpus = 1;
  unsigned memoryMiB = 128;
  std::string label = "scratch";        // the label the guest looks for
  int waitSeconds = 20;                 // how long the guest waits for the disk
  bool hold = false;                    // stay up after writing the marker
  bool pattern = false;                 // vs.pattern: write and read back 1 MiB (scripts/vm-env)
  std::vector<std::string> qcow2Disks;  // image files attached as virtio disks vda, vdb, ...
  // Image files on one virtio-scsi controller, at targets 0, 1, ... (sda, sdb, ... to libvirt;
  // the guest names them in the order it finds them).
  std::vector<GuestDisk> scsiDisks;
  // vs.check (scripts/vm-env): the disks the guest checks, instead of the one labelled `label`.
  std::string check;
  // vs.trim (scripts/vm-env), with check: MiB written, deleted and trimmed on each filesystem.
  unsigned trimMiB = 0;
  // vs.gate: with trimMiB, the guest waits before each fill until VmTest::openGate.
  bool gate = false;
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
  // Lets the system bus start virt-scratchd on the first call to its name (D-Bus activation),
  // configured as startDaemon would; undone at the end of the test, which stops the daemon the
  // bus started.
  void allowActivation(const DaemonOptions& options = {});
  pid_t activatedDaemonPid();  // the owner of the name, -1 when none
  void stopActivatedDaemon();  // SIGTERM to the owner of the name; waits until it is free
  // SIGKILL, then waits until the process is reaped and its bus name is free again.
  void killDaemon();
  std::string daemonLog() const;
  std::string poolPath() const { return dir_->file("pool"); }
  // Where the daemon keeps a domain's image: <pool>/<uuid>/<target>.<format>.
  std::string poolImage(const std::string& target = "vdb", const std::string& format = "qcow2");
  bool waitForFile(const std::string& path, bool present, std::chrono::milliseconds deadline = 30s);

  CommandResult cli(std::vector<std::string> args);  // virt-scratch
  // A line to the guest's second serial port, which a Guest with `gate` waits for (vs.gate).
  void openGate();

  std::unique_ptr<TempDir> dir_;

 private:
  std::string writeDaemonConfig(const DaemonOptions& options);
  static int reloadBusConfig();

  std::string name_;
  bool defined_ = false;
  bool activationAllowed_ = false;
  std::vector<std::string> otherDomains_;  // defined with defineDomain(domain, guest)
  bool systemConfigSaved_ = false;
  pid_t daemonPid_ = -1;
  int lockFd_ = -1;  // /run/virt-scratch-e2e.lock, held for the test's time
  UniqueFd gate_;    // connected to the guest's second serial port by openGate
};

// Waits for `done()` with short pauses until the deadline; false on timeout.
bool pollUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline);

}  // namespace virtscratch::test
