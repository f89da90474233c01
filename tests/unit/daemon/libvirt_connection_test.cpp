// The connection to libvirt opens off the loop: a libvirtd that accepts the socket but does not
// answer yet (as one starting, busy with autostart, whose hooks wait for the daemon) leaves the
// loop serving, and the connection is adopted only when the open ends.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/unique_fd.h"
#include "daemon/glib_source.h"
#include "tests/unit/daemon/libvirt_fixture.h"

namespace virtscratch::daemon::libvirt::testing {
namespace {

// A listening unix socket that never accepts: connects succeed (the backlog), calls never end.
UniqueFd silentListener(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << path;
  EXPECT_EQ(listen(fd.get(), 8), 0);
  return fd;
}

TEST(LibvirtConnection, ALibvirtdThatDoesNotAnswerLeavesTheLoopServing) {
  registerForTests();
  ::virtscratch::test::TempDir dir;
  std::string socketPath = dir.file("libvirt-sock");
  UniqueFd listener = silentListener(socketPath);
  LibvirtConnection connection(
      LibvirtConnection::Options{.uri = "qemu+unix:///system?socket=" + socketPath,
                                 .firstRetryMs = 60000},
      testContext());
  connection.start();  // returns at once: the open is on its own thread, stuck in the handshake

  // The loop goes on serving while the open waits.
  int served = 0;
  for (int i = 0; i < 3; ++i) {
    g_source_unref(runOnce(testContext(), 0, [&] { ++served; }));
    ASSERT_TRUE(spinUntil([&] { return served == i + 1; }, std::chrono::seconds(5)))
        << "the loop did not run posted work while the connection was being opened";
  }
  EXPECT_FALSE(connection.connected());

  // The "libvirtd" goes away: the open fails on its thread. The connection object may go
  // before the open comes back; the loop then closes whatever the open returns.
  listener = UniqueFd();
}

}  // namespace
}  // namespace virtscratch::daemon::libvirt::testing
