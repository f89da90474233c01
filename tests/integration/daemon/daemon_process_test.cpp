// virt-scratchd as systemd runs it: sd_notify READY/WATCHDOG/STOPPING, a configuration error
// at start, and the bus policy that lets only root own the name.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

using DaemonProcess = DaemonTest;

// A datagram socket standing in for systemd's notification socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "cannot bind " << path;
    }
  }
  ~NotifySocket() { close(fd_); }

  // The next message, or "" when none comes before the deadline.
  std::string next(std::chrono::milliseconds deadline = 10s) {
    struct pollfd p = {fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(deadline.count())) <= 0) return "";
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  // Waits for a message containing `text`.
  bool waitFor(const std::string& text) {
    for (std::string m = next(); !m.empty(); m = next()) {
      if (m.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  int fd_ = -1;
};

TEST_F(DaemonProcess, TellsSystemdItIsReadyAliveAndStopping) {
  NotifySocket notify(dir_->file("notify"));
  setenv("NOTIFY_SOCKET", dir_->file("notify").c_str(), 1);
  setenv("WATCHDOG_USEC", "200000", 1);
  startDaemon();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  EXPECT_TRUE(notify.waitFor("READY=1"));
  EXPECT_TRUE(notify.waitFor("WATCHDOG=1"));
  EXPECT_TRUE(notify.waitFor("WATCHDOG=1")) << "the watchdog was pinged only once";
  kill(daemon_->pid(), SIGTERM);
  EXPECT_TRUE(notify.waitFor("STOPPING=1"));
  EXPECT_EQ(stopDaemon(), 0);
}

TEST_F(DaemonProcess, RefusesToStartWithABadConfigurationNamingTheKey) {
  std::string conf = dir_->file("bad.conf");
  std::ofstream(conf) << "[pool]\npath=" << poolPath() << "\nquota=lots\n";
  auto result = run({VIRT_SCRATCHD_BIN, "--config", conf});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("<3>"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("quota"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("bad.conf"), std::string::npos) << result.err;
  EXPECT_FALSE(nameHasOwner());
}

TEST_F(DaemonProcess, AnswersHelpAndRejectsUnknownArguments) {
  auto help = run({VIRT_SCRATCHD_BIN, "--help"});
  EXPECT_EQ(help.exitCode, 0);
  EXPECT_NE(help.out.find("--config FILE"), std::string::npos) << help.out;
  auto bad = run({VIRT_SCRATCHD_BIN, "--pool", "/x"});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_NE(bad.err.find("--pool"), std::string::npos) << bad.err;
}

TEST_F(DaemonProcess, TheBusPolicyLetsOnlyRootOwnTheName) {
  // A pool `nobody` may write, so that only the bus can stop it.
  std::string pool = dir_->file("nobody-pool");
  std::filesystem::create_directory(pool);
  ASSERT_EQ(chown(pool.c_str(), 65534, 65534), 0);
  std::string conf = dir_->file("nobody.conf");
  std::ofstream(conf) << "[pool]\npath=" << pool << "/pool\n";
  auto result = run({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                     VIRT_SCRATCHD_BIN, "--config", conf});
  EXPECT_EQ(result.exitCode, 1) << result.err;
  EXPECT_NE(result.err.find("cannot serve org.virtscratch.Scratch1"), std::string::npos)
      << result.err;
  EXPECT_FALSE(nameHasOwner());
}

TEST_F(DaemonProcess, TheBusPolicyRefusesPropertyWrites) {
  startDaemon();
  ManagerClient manager(bus());
  EXPECT_EQ(errorNameOf([&] {
              manager.Set("org.virtscratch.Scratch1.Manager", "PoolQuota",
                          sdbus::Variant(uint64_t{1}));
            }),
            "org.freedesktop.DBus.Error.AccessDenied");
}

}  // namespace
}  // namespace virtscratch::test
