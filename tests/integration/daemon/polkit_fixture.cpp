#include "tests/integration/daemon/polkit_fixture.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace virtscratch::test {
namespace {

constexpr char kPolkitd[] = "/usr/lib/polkit-1/polkitd";
constexpr char kPolkitName[] = "org.freedesktop.PolicyKit1";

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// groupadd/useradd exit 9 when the name exists already: created by an earlier run.
void ensure(const std::vector<std::string>& argv) {
  CommandResult r = run(argv);
  if (r.exitCode != 0 && r.exitCode != 9) {
    throw std::runtime_error(argv[0] + " " + argv.back() + " failed: " + r.err);
  }
}

void ensureUsers() {
  ensure({"groupadd", "-r", "libvirt"});
  ensure({"groupadd", "-r", kOthersGroup});
  ensure({"useradd", "-r", "-M", "-N", "-g", "nogroup", "-G", "libvirt", "-s", "/usr/sbin/nologin",
          kMember});
  ensure({"useradd", "-r", "-M", "-N", "-g", "nogroup", "-G", kOthersGroup, "-s",
          "/usr/sbin/nologin", kOther});
}

}  // namespace

void PolkitTest::SetUp() {
  DaemonTest::SetUp();
  if (!dir_) return;  // skipped
  if (access(kPolkitd, X_OK) != 0) GTEST_SKIP() << kPolkitd << " is missing: install polkitd";
  ensureUsers();
  for (const char* d : {"polkit", "polkit/actions", "polkit/rules", "polkit/etc-rules"}) {
    std::filesystem::create_directory(dir_->file(d));
    chmod(dir_->file(d).c_str(), 0755);  // polkitd reads them as user polkitd
  }
  std::string source = VIRTSCRATCH_POLKIT_DIR;
  std::filesystem::copy_file(source + "/org.virtscratch.scratch1.policy",
                             dir_->file("polkit/actions/org.virtscratch.scratch1.policy"));
  std::filesystem::copy_file(source + "/60-org.virtscratch.scratch1.rules",
                             dir_->file("polkit/rules/60-org.virtscratch.scratch1.rules"));
}

void PolkitTest::TearDown() {
  if (polkit_ > 0) {
    if (HasFailure()) std::fprintf(stderr, "polkitd's log:\n%s\n", polkitLog().c_str());
    kill(polkit_, SIGKILL);
    waitpid(polkit_, nullptr, 0);
    polkit_ = -1;
  }
  DaemonTest::TearDown();
}

void PolkitTest::startPolkit() {
  // Everything the child needs is made before fork(): after it only system calls.
  std::string actions = dir_->file("polkit/actions");
  std::string rules = dir_->file("polkit/rules");
  std::string etcRules = dir_->file("polkit/etc-rules");
  int log =
      open(dir_->file("polkitd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(log, 0);
  bool changed = true;
  auto slot = bus().addMatch(
      "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" +
          std::string(kPolkitName) + "'",
      [&changed](sdbus::Message&) { changed = true; });
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A private mount namespace: the bind mounts are seen by polkitd alone.
    if (unshare(CLONE_NEWNS) != 0 ||
        mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount(actions.c_str(), "/usr/share/polkit-1/actions", nullptr, MS_BIND, nullptr) != 0 ||
        mount(rules.c_str(), "/usr/share/polkit-1/rules.d", nullptr, MS_BIND, nullptr) != 0 ||
        mount(etcRules.c_str(), "/etc/polkit-1/rules.d", nullptr, MS_BIND, nullptr) != 0) {
      _exit(126);
    }
    dup2(log, 1);
    dup2(log, 2);
    execl(kPolkitd, "polkitd", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(log);
  polkit_ = pid;
  bool owned = false;
  bool up = pumpUntil(
      [&] {
        if (changed) {
          changed = false;
          owned = nameHasOwner(kPolkitName);
        }
        return owned || waitpid(polkit_, nullptr, WNOHANG) == polkit_;
      },
      30s);
  ASSERT_TRUE(up && owned) << "polkitd did not appear on the bus; its log:\n" << polkitLog();
}

void PolkitTest::stopPolkit() {
  bool changed = true;
  auto slot = bus().addMatch(
      "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" +
          std::string(kPolkitName) + "'",
      [&changed](sdbus::Message&) { changed = true; });
  kill(polkit_, SIGTERM);
  waitpid(polkit_, nullptr, 0);
  polkit_ = -1;
  bool gone = false;
  ASSERT_TRUE(pumpUntil([&] {
    if (changed) {
      changed = false;
      gone = !nameHasOwner(kPolkitName);
    }
    return gone;
  }));
}

void PolkitTest::writeAdminRules(const std::string& name, const std::string& text) {
  std::string path = dir_->file("polkit/etc-rules/" + name);
  writeText(path + ".new", text);
  std::filesystem::rename(path + ".new", path);
}

void PolkitTest::startPolkitGranting(const std::string& user) {
  writeAdminRules("40-grant-" + user + ".rules", R"(
polkit.addRule(function(action, subject) {
    if (action.id.indexOf("org.virtscratch.scratch1.") == 0 && subject.user == ")" +
                                                     user + R"(")
        return polkit.Result.YES;
});
)");
  startPolkit();
}

CommandResult PolkitTest::cliAs(const std::string& user, std::vector<std::string> args) {
  std::vector<std::string> argv = {"setpriv", "--reuid=" + user, "--regid=nogroup", "--init-groups",
                                   VIRT_SCRATCH_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

CommandResult PolkitTest::busctlAs(const std::string& user, std::vector<std::string> args) {
  std::vector<std::string> argv = {"setpriv", "--reuid=" + user, "--regid=nogroup", "--init-groups",
                                   "busctl",  "--system",        "--no-pager",      "call"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

uid_t PolkitTest::uidOf(const std::string& user) const {
  const passwd* pw = getpwnam(user.c_str());
  if (pw == nullptr) throw std::runtime_error("no user " + user);
  return pw->pw_uid;
}

gid_t PolkitTest::gidOf(const std::string& group) const {
  const struct group* gr = getgrnam(group.c_str());
  if (gr == nullptr) throw std::runtime_error("no group " + group);
  return gr->gr_gid;
}

std::string PolkitTest::polkitLog() const {
  return fileExists(dir_->file("polkitd.log")) ? readFile(dir_->file("polkitd.log")) : "";
}

}  // namespace virtscratch::test
