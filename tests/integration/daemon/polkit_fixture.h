// A real polkitd for the daemon's tests: started on the test's private system bus in its own
// mount namespace, where directories of the test stand in for the machine's polkit actions and
// rules (the project's polkit/ files, and an /etc rules directory the test rewrites), so that
// the machine's polkit setup is neither read nor touched. Also the test users polkit decides
// about: vs-polkit-member (in group libvirt) and vs-polkit-other (in vs-polkit-others only).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {

inline constexpr char kMember[] = "vs-polkit-member";
inline constexpr char kOther[] = "vs-polkit-other";
inline constexpr char kOthersGroup[] = "vs-polkit-others";

class PolkitTest : public DaemonTest {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts polkitd and waits (with a deadline) until it owns org.freedesktop.PolicyKit1.
  void startPolkit();
  // SIGTERM, and waits until the name has no owner any more.
  void stopPolkit();
  // Writes `text` as the rules file `name` in the directory polkitd reads as
  // /etc/polkit-1/rules.d (written under another name and renamed, as an editor does).
  void writeAdminRules(const std::string& name, const std::string& text);
  // Starts polkitd with an administrator's rule that grants every org.virtscratch.scratch1
  // action to `user`, for tests whose subject is not who may change the pool.
  void startPolkitGranting(const std::string& user);

  // virt-scratch run as `user` with the groups the user database gives it.
  CommandResult cliAs(const std::string& user, std::vector<std::string> args);
  // busctl --system call ... run as `user`.
  CommandResult busctlAs(const std::string& user, std::vector<std::string> args);

  uid_t uidOf(const std::string& user) const;
  gid_t gidOf(const std::string& group) const;
  std::string polkitLog() const;

 private:
  pid_t polkit_ = -1;
};

}  // namespace virtscratch::test
