#include "tests/integration/daemon/daemon_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

extern char** environ;

namespace virtscratch::test {
namespace {

constexpr char kBusName[] = "org.virtscratch.Scratch1";
constexpr char kManagerPath[] = "/org/virtscratch/Scratch1";

std::vector<char*> argvOf(const std::vector<std::string>& args) {
  std::vector<char*> out;
  for (const auto& a : args) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

pid_t spawn(const std::vector<std::string>& args, posix_spawn_file_actions_t* actions) {
  std::vector<char*> argv = argvOf(args);
  pid_t pid = -1;
  int err = posix_spawnp(&pid, argv[0], actions, nullptr, argv.data(), environ);
  if (err != 0) throw std::runtime_error("spawn " + args[0] + ": " + std::strerror(err));
  return pid;
}

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace

// ---- Child

Child::Child(const std::vector<std::string>& argv, const std::string& logPath) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_ = spawn(argv, &actions);
  posix_spawn_file_actions_destroy(&actions);
}

Child::~Child() {
  if (!reaped_) stop(SIGKILL);
}

bool Child::exited() {
  if (reaped_) return true;
  if (waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
  return reaped_;
}

int Child::stop(int signal, std::chrono::milliseconds deadline) {
  if (reaped_) return status_;
  // A pidfd becomes readable when the process ends: wait on it, with the deadline.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  kill(pid_, signal);
  if (pidfd >= 0) {
    struct pollfd p = {pidfd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(deadline.count()));
    close(pidfd);
  }
  exited();
  if (!reaped_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    reaped_ = true;
    ADD_FAILURE() << "process " << pid_ << " did not end within the deadline after signal "
                  << signal;
  }
  return status_;
}

// ---- PrivateBus

PrivateBus::PrivateBus(const std::string& dir) {
  std::string socket = dir + "/system_bus_socket";
  std::string config = dir + "/bus.conf";
  // The default policy of Debian's system bus, with the project's policy included: names and
  // method calls are denied unless a policy file allows them.
  writeText(config,
            R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=)" +
                socket + R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>)" + std::string(VIRTSCRATCH_DBUS_POLICY) +
                R"(</include>
  <include ignore_missing="yes">/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf</include>
</busconfig>
)");
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  pid_ =
      spawn({"dbus-daemon", "--config-file=" + config, "--nofork", "--print-address=1"}, &actions);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  // The address is printed once the bus listens: that line is the readiness signal.
  std::string line;
  auto end = std::chrono::steady_clock::now() + 10s;
  while (line.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    struct pollfd p = {out[0], POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t n = read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  if (line.find('\n') == std::string::npos) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    throw std::runtime_error("dbus-daemon did not start (config " + config + ")");
  }
  // Any client may connect, as to the real system bus.
  chmod(socket.c_str(), 0666);
  address_ = "unix:path=" + socket;
}

PrivateBus::~PrivateBus() {
  kill(pid_, SIGTERM);
  waitpid(pid_, nullptr, 0);
}

// ---- DaemonTest

void DaemonTest::SetUp() {
  if (geteuid() != 0) {
    GTEST_SKIP() << "the bus policy lets only root own org.virtscratch.Scratch1: run as root";
  }
  dir_ = std::make_unique<TempDir>();
  // The bus socket and the content lie in here; other users (the `nobody` client) reach them.
  chmod(dir_->path().c_str(), 0755);
  std::filesystem::create_directory(contentPath());
  privateBus_ = std::make_unique<PrivateBus>(dir_->path());
  setenv("DBUS_SYSTEM_BUS_ADDRESS", privateBus_->address().c_str(), 1);
  connection_ = sdbus::createSystemBusConnection();
  connection_->setMethodCallTimeout(120'000'000);
}

void DaemonTest::TearDown() {
  if (!dir_) return;  // skipped
  if (daemon_ && !daemon_->exited()) {
    int status = daemon_->stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "virt-scratchd did not exit cleanly on SIGTERM; its log:\n"
        << daemonLog();
  }
  if (HasFailure()) std::fprintf(stderr, "virt-scratchd's log:\n%s\n", daemonLog().c_str());
  daemon_.reset();
  connection_.reset();
  privateBus_.reset();
  unsetenv("DBUS_SYSTEM_BUS_ADDRESS");
  dir_.reset();
}

void DaemonTest::startDaemon() { startDaemon(config_); }

void DaemonTest::startDaemon(const DaemonConfig& config) {
  config_ = config;
  std::string conf = dir_->file("virt-scratchd.conf");
  writeText(conf, "[pool]\npath=" + poolPath() + "\nquota=" + config.quota +
                      (config.reserve.empty() ? "" : "\nreserve=" + config.reserve) + "\n" +
                      config.pool + "[metrics]\n" + config.metrics + "[limits]\n" + config.limits +
                      "[templates]\nmode=" + config.templates + "\n" +
                      (config.group.empty() ? "" : "[access]\ngroup=" + config.group + "\n") +
                      (config.contentRoot ? "[content]\nroots=" + contentPath() + ";\n" : ""));
  bool changed = true;
  auto slot = connection_->addMatch(
      "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='" +
          std::string(kBusName) + "'",
      [&changed](sdbus::Message&) { changed = true; });
  std::vector<std::string> argv = {VIRT_SCRATCHD_BIN, "--config", conf};
  if (config.privateTmp) argv.insert(argv.begin(), PRIVATE_TMP_BIN);
  daemon_ = std::make_unique<Child>(argv, dir_->file("daemon.log"));
  // The name must belong to this process: after a crash the bus may not have noticed yet
  // that the previous one is gone. Checked again on every change of owner (subscribed
  // before the first check, so no change goes unnoticed).
  bool ours = false;
  bool up = pumpUntil(
      [&] {
        if (changed) {
          changed = false;
          ours = nameOwnerPid() == daemon_->pid();
        }
        return ours || daemon_->exited();
      },
      30s);
  ASSERT_TRUE(up && ours) << "virt-scratchd did not appear on the bus; its log:\n" << daemonLog();
}

pid_t DaemonTest::nameOwnerPid() {
  auto proxy = sdbus::createProxy(*connection_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
  try {
    uint32_t pid = 0;
    proxy->callMethod("GetConnectionUnixProcessID")
        .onInterface("org.freedesktop.DBus")
        .withArguments(std::string(kBusName))
        .storeResultsTo(pid);
    return static_cast<pid_t>(pid);
  } catch (const sdbus::Error&) {
    return -1;  // no owner
  }
}

int DaemonTest::stopDaemon() {
  int status = daemon_->stop(SIGTERM);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void DaemonTest::killDaemon() { daemon_->stop(SIGKILL); }

std::string DaemonTest::daemonLog() const {
  return dir_ && fileExists(dir_->file("daemon.log")) ? readFile(dir_->file("daemon.log")) : "";
}

bool DaemonTest::processUntil(sd_bus* bus, const std::function<bool()>& done,
                              std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    int r = sd_bus_process(bus, nullptr);
    if (r < 0) return false;
    if (r == 0 && sd_bus_wait(bus, 100'000) < 0) return false;
  }
  return true;
}

bool DaemonTest::pumpUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    while (connection_->processPendingRequest()) {
    }
    if (done()) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    auto data = connection_->getEventLoopPollData();
    // Short waits also let done() watch things that have no fd (a child's exit).
    int timeout = static_cast<int>(std::min<int64_t>(left.count(), 50));
    if (auto rel = data.getRelativeTimeout()) {
      timeout = static_cast<int>(std::min<int64_t>(timeout, (rel->count() + 999) / 1000));
    }
    struct pollfd p = {data.fd, data.events, 0};
    poll(&p, 1, timeout);
  }
}

bool DaemonTest::nameHasOwner(const std::string& name) {
  auto proxy = sdbus::createProxy(*connection_, "org.freedesktop.DBus", "/org/freedesktop/DBus");
  bool has = false;
  proxy->callMethod("NameHasOwner")
      .onInterface("org.freedesktop.DBus")
      .withArguments(name)
      .storeResultsTo(has);
  return has;
}

CommandResult DaemonTest::cli(std::vector<std::string> args, bool asNobody) {
  std::vector<std::string> argv;
  if (asNobody) argv = {"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
  argv.push_back(VIRT_SCRATCH_BIN);
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

std::vector<std::string> DaemonTest::poolFiles() const {
  std::vector<std::string> files;
  if (!std::filesystem::exists(poolPath())) return files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(poolPath())) {
    std::string rel = std::filesystem::relative(entry.path(), poolPath()).string();
    // The directories the daemon keeps; what is in them is listed.
    if (rel != ".templates" && rel != ".released") files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

// ---- Proxies

ManagerClient::ManagerClient(sdbus::IConnection& connection)
    : ProxyInterfaces(connection, kBusName, kManagerPath) {
  registerProxy();
}
ManagerClient::~ManagerClient() { unregisterProxy(); }

void ManagerClient::onImageAdded(const sdbus::ObjectPath& image, const std::string& domain) {
  added.emplace_back(image, domain);
}

void ManagerClient::onImageRemoved(const sdbus::ObjectPath& image, const std::string& domain,
                                   const std::string& reason) {
  removed.emplace_back(image, domain, reason);
}

void ManagerClient::onSpaceLow(const std::string& state, const uint64_t& allocated,
                               const uint64_t& available) {
  spaceLow.emplace_back(state, allocated, available);
}

ImageClient::ImageClient(sdbus::IConnection& connection, const std::string& path)
    : ProxyInterfaces(connection, kBusName, path) {}
ImageClient::~ImageClient() = default;

sdbus::Slot watchJobs(sdbus::IConnection& connection, JobSignals& signals) {
  return connection.addMatch(
      "type='signal',sender='org.virtscratch.Scratch1',path_namespace='/org/virtscratch/"
      "Scratch1/job'",
      [&signals](sdbus::Message& m) {
        std::string member = m.getMemberName();
        if (member == "Completed") {
          bool ok = false;
          std::string text;
          m >> ok >> text;
          signals.completed[m.getPath()] = {ok, text};
        } else if (member == "PropertiesChanged") {
          std::string interface;
          std::map<std::string, sdbus::Variant> changed;
          m >> interface >> changed;
          if (auto it = changed.find("Progress"); it != changed.end()) {
            signals.changes[m.getPath()].push_back(
                {std::chrono::steady_clock::now(), it->second.get<double>()});
          }
        }
      });
}

sdbus::UnixFd newOutput(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  return sdbus::UnixFd(fd, sdbus::adopt_fd);
}

std::string errorNameOf(const std::function<void()>& body) {
  try {
    body();
  } catch (const sdbus::Error& e) {
    return e.getName();
  }
  return "";
}

sdbus::ObjectPath allocate(ManagerClient& manager, const std::string& domain, const Spec& spec) {
  return std::get<0>(manager.Allocate(domain, spec));
}

Spec imageSpec(uint64_t size, const std::string& format, const std::string& filesystem,
               const std::string& target, const std::string& preallocation) {
  return {{"size", sdbus::Variant(size)},
          {"format", sdbus::Variant(format)},
          {"filesystem", sdbus::Variant(filesystem)},
          {"preallocation", sdbus::Variant(preallocation)},
          {"target", sdbus::Variant(target)}};
}

}  // namespace virtscratch::test
