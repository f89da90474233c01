// The real pieces for the daemon's integration tests: a private dbus-daemon whose policy
// includes the project's own dbus/org.virtscratch.Scratch1.conf, the real virt-scratchd binary
// with a configuration in a temporary directory, and clients through the generated proxies and
// through the virt-scratch command. Single-threaded: tests pump their own connection.
#pragma once

#include <gtest/gtest.h>
#include <sdbus-c++/sdbus-c++.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "scratch1_proxy.h"
#include "tests/support/test_util.h"

namespace virtscratch::test {

using namespace std::chrono_literals;
using Spec = std::map<std::string, sdbus::Variant>;

inline constexpr char kDomainA[] = "6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6f";
inline constexpr char kDomainB[] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

// A child process with its output in a file; killed (SIGKILL) and reaped at destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& logPath);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  // Sends `signal` and waits for the exit; returns the wait status.
  int stop(int signal, std::chrono::milliseconds deadline = 30s);
  bool exited();  // without waiting

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// A dbus-daemon of type system on a socket in `dir`, with the project's policy.
class PrivateBus {
 public:
  explicit PrivateBus(const std::string& dir);
  ~PrivateBus();
  const std::string& address() const { return address_; }

 private:
  pid_t pid_ = -1;
  std::string address_;
};

struct DaemonConfig {
  std::string quota = "0";
  std::string group{};  // [access] group: obsolete (polkit decides), only logged when set
  std::string templates = "off";
  bool contentRoot = true;   // <tmp>/content is a content root
  std::string reserve = "";  // [pool] reserve; empty: the daemon's default (5%)
  std::string limits = "";   // lines of [limits], e.g. "disks-per-domain=2\n"
  bool privateTmp = false;   // the daemon sees an empty /tmp of its own (private-tmp)
  std::string pool = "";     // more lines of [pool], e.g. "refresh=1\n"
  std::string metrics = "";  // lines of [metrics]
};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Writes the configuration, starts virt-scratchd and waits until it owns its name.
  void startDaemon();
  void startDaemon(const DaemonConfig& config);
  // SIGTERM and wait: the exit status the daemon returned.
  int stopDaemon();
  void killDaemon();  // SIGKILL, as a crash
  std::string daemonLog() const;

  sdbus::IConnection& bus() { return *connection_; }
  // Processes the connection until `done()` or the deadline; false on timeout.
  bool pumpUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline = 30s);
  // The same for a test's own sd-bus connection; false on timeout or a failure of the connection.
  static bool processUntil(sd_bus* bus, const std::function<bool()>& done,
                           std::chrono::milliseconds deadline = 30s);
  bool nameHasOwner(const std::string& name = "org.virtscratch.Scratch1");
  pid_t nameOwnerPid();  // -1: the name has no owner

  // Runs virt-scratch with the test bus; as `nobody` when `asNobody`.
  CommandResult cli(std::vector<std::string> args, bool asNobody = false);

  std::string poolPath() const { return dir_->file("pool"); }
  std::string contentPath() const { return dir_->file("content"); }
  // The files under the pool (relative paths, sorted), hidden ones and directories included,
  // except the template cache's folder .templates (empty: the tests run with templates off).
  std::vector<std::string> poolFiles() const;

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<PrivateBus> privateBus_;
  std::unique_ptr<Child> daemon_;
  std::unique_ptr<sdbus::IConnection> connection_;
  DaemonConfig config_;
};

// The generated proxies, on the test's connection, recording the signals they receive.
class ManagerClient final
    : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Manager_proxy,
                                    sdbus::Properties_proxy, sdbus::ObjectManager_proxy> {
 public:
  explicit ManagerClient(sdbus::IConnection& connection);
  ~ManagerClient();

  std::vector<std::pair<std::string, std::string>> added;                  // image, domain
  std::vector<std::tuple<std::string, std::string, std::string>> removed;  // image, domain, why
  std::vector<std::tuple<std::string, uint64_t, uint64_t>> spaceLow;  // state, allocated, available

 private:
  void onImageAdded(const sdbus::ObjectPath& image, const std::string& domain) override;
  void onImageRemoved(const sdbus::ObjectPath& image, const std::string& domain,
                      const std::string& reason) override;
  void onSpaceLow(const std::string& state, const uint64_t& allocated,
                  const uint64_t& available) override;
  void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                           const std::vector<std::string>&) override {}
  void onInterfacesAdded(
      const sdbus::ObjectPath&,
      const std::map<std::string, std::map<std::string, sdbus::Variant>>&) override {}
  void onInterfacesRemoved(const sdbus::ObjectPath&, const std::vector<std::string>&) override {}
};

class ImageClient final : public sdbus::ProxyInterfaces<org::virtscratch::Scratch1::Image_proxy,
                                                        sdbus::Properties_proxy> {
 public:
  ImageClient(sdbus::IConnection& connection, const std::string& path);
  ~ImageClient();

 private:
  void onPropertiesChanged(const std::string&, const std::map<std::string, sdbus::Variant>&,
                           const std::vector<std::string>&) override {}
};

// The signals of every job, recorded from before the job exists (a match on the job/ path
// namespace), as a client following an export must.
struct JobSignals {
  struct Change {
    std::chrono::steady_clock::time_point at;
    double progress;
  };
  std::map<std::string, std::vector<Change>> changes;
  std::map<std::string, std::pair<bool, std::string>> completed;
};
[[nodiscard]] sdbus::Slot watchJobs(sdbus::IConnection& connection, JobSignals& signals);

// Manager.Allocate's image object (its reply also carries the file's path, which
// daemon_bus_test checks).
sdbus::ObjectPath allocate(ManagerClient& manager, const std::string& domain, const Spec& spec);

// An Allocate spec with the keys most tests set.
Spec imageSpec(uint64_t size, const std::string& format, const std::string& filesystem,
               const std::string& target = "vdb", const std::string& preallocation = "off");

// A new file at `path` (which must not exist), opened for writing as a caller of Export opens it.
sdbus::UnixFd newOutput(const std::string& path);

// The name of the error `body` throws, or "" when it throws none.
std::string errorNameOf(const std::function<void()>& body);

}  // namespace virtscratch::test
