#include "tests/e2e/vm_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace virtscratch::test {
namespace {

constexpr char kBusName[] = "org.virtscratch.Scratch1";
constexpr char kUri[] = "qemu:///system";
// Where the hook reads [hook] (libvirtd runs hooks with a cleared environment, so
// VIRT_SCRATCH_CONFIG cannot reach it).
constexpr char kSystemConfig[] = "/etc/virt-scratch/virt-scratchd.conf";
// One of the system bus's standard service directories, which packages leave alone.
constexpr char kActivationFile[] =
    "/usr/local/share/dbus-1/system-services/org.virtscratch.Scratch1.service";
constexpr char kMachineLock[] = "/run/virt-scratch-e2e.lock";

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

bool onPath(const std::string& tool) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    if (access((std::string(dir) + "/" + tool).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The pid owning the daemon's bus name, or -1.
pid_t nameOwnerPid() {
  CommandResult r = run({"dbus-send", "--system", "--print-reply", "--dest=org.freedesktop.DBus",
                         "/org/freedesktop/DBus", "org.freedesktop.DBus.GetConnectionUnixProcessID",
                         std::string("string:") + kBusName});
  if (r.exitCode != 0) return -1;
  auto at = r.out.find("uint32 ");
  return at == std::string::npos ? -1 : static_cast<pid_t>(std::stol(r.out.substr(at + 7)));
}

// The environment is set up once per process (each test runs in its own process under ctest,
// and `vm-env up` is quick when everything already runs).
std::string& environmentError() {
  static std::string error;
  return error;
}

bool environmentReady() {
  static bool done = false;
  if (done) return environmentError().empty();
  done = true;
  std::vector<std::string> up = {VmTest::vmEnv(), "up"};
  if (VmTest::hookBuilt())
    up.push_back(VIRT_SCRATCH_HOOK_BIN);
  else
    up.push_back("-");
  CommandResult r = run(up);
  if (r.exitCode != 0) {
    environmentError() = "scripts/vm-env up failed: " + r.out + r.err;
    return false;
  }
  r = run({VmTest::vmEnv(), "guest", VS_E2E_GUEST_DIR});
  if (r.exitCode != 0) environmentError() = "scripts/vm-env guest failed: " + r.out + r.err;
  return environmentError().empty();
}

}  // namespace

bool pollUntil(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

std::string VmTest::vmEnv() { return std::string(VIRTSCRATCH_SOURCE_DIR) + "/scripts/vm-env"; }

bool VmTest::hookBuilt() {
  std::string hook = VIRT_SCRATCH_HOOK_BIN;
  return !hook.empty() && access(hook.c_str(), X_OK) == 0;
}

bool VmTest::enableAvailable() {
  static int available = -1;
  if (available < 0) available = run({VIRT_SCRATCH_BIN, "enable", "--help"}).exitCode == 0;
  return available == 1;
}

void VmTest::SetUp() {
  if (geteuid() != 0) {
    GTEST_SKIP() << "the end-to-end tests start libvirtd and own a name on the system bus: run "
                    "them as root";
  }
  for (const char* tool : {"qemu-system-x86_64", "libvirtd", "virsh", "dbus-daemon"}) {
    if (!onPath(tool)) {
      GTEST_SKIP() << tool << " is not installed: run scripts/deps";
    }
  }
  // The tests of other build trees (and bench/vmstart) use the same libvirtd, hook link and bus
  // name: one at a time on the machine, as ctest's RESOURCE_LOCK does within one run.
  lockFd_ = open(kMachineLock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(lockFd_, 0) << "cannot open " << kMachineLock;
  ASSERT_TRUE(pollUntil([&] { return flock(lockFd_, LOCK_EX | LOCK_NB) == 0; }, 300s))
      << "another end-to-end test or bench/vmstart held " << kMachineLock << " for 5 minutes";
  ASSERT_TRUE(environmentReady()) << environmentError();
  dir_ = std::make_unique<TempDir>();
  chmod(dir_->path().c_str(), 0755);
  std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  name_ = "vs-e2e-";
  // A parameterized test's name ends in "/<parameter>"; libvirt refuses '/' in a name.
  for (char c : test) {
    name_ += c == '/' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  // A domain left by an earlier run that was killed.
  virsh({"destroy", name_});
  virsh({"undefine", name_});
}

void VmTest::TearDown() {
  if (!dir_) {  // skipped
    if (lockFd_ >= 0) close(lockFd_);
    lockFd_ = -1;
    return;
  }
  if (HasFailure()) {
    std::fprintf(stderr, "guest console:\n%s\n", console().c_str());
    std::fprintf(stderr, "virt-scratchd's log:\n%s\n", daemonLog().c_str());
  }
  if (defined_) {
    virsh({"destroy", name_});
    virsh({"undefine", name_});
  }
  for (const std::string& domain : otherDomains_) {
    virsh({"destroy", domain});
    virsh({"undefine", domain});
  }
  if (daemonPid_ > 0) stopDaemon();
  if (activationAllowed_) {
    stopActivatedDaemon();
    std::filesystem::remove(kActivationFile);
    reloadBusConfig();
  }
  if (systemConfigSaved_) {
    std::filesystem::remove(kSystemConfig);
    if (fileExists(dir_->file("saved-system.conf"))) {
      std::filesystem::copy_file(dir_->file("saved-system.conf"), kSystemConfig);
    }
  }
  dir_.reset();
  close(lockFd_);  // releases the lock
  lockFd_ = -1;
}

namespace {

// sda ... sdz, sdaa ... as libvirt names SCSI targets.
std::string scsiTarget(size_t index) {
  std::string name;
  for (size_t n = index + 1; n > 0; n = (n - 1) / 26) {
    name.insert(name.begin(), static_cast<char>('a' + (n - 1) % 26));
  }
  return "sd" + name;
}

std::string domainXml(const std::string& domain, const Guest& guest, const std::string& console) {
  std::string guestDir = VS_E2E_GUEST_DIR;
  std::ostringstream xml;
  xml << "<domain type='qemu'>\n  <name>" << domain << "</name>\n"
      << "  <memory unit='MiB'>" << guest.memoryMiB << "</memory>\n  <vcpu>" << guest.vcpus
      << "</vcpu>\n"
      << "  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n"
      << "    <kernel>" << guestDir << "/vmlinuz</kernel>\n"
      << "    <initrd>" << guestDir << "/initrd.gz</initrd>\n"
      << "    <cmdline>console=ttyS0 panic=-1 quiet vs.label=" << guest.label
      << " vs.wait=" << guest.waitSeconds << " vs.hold=" << (guest.hold ? 1 : 0)
      << (guest.check.empty() ? "" : " vs.check=" + guest.check)
      << (guest.pattern ? " vs.pattern=1" : "")
      << (guest.trimMiB != 0 ? " vs.trim=" + std::to_string(guest.trimMiB) : "")
      << (guest.gate ? " vs.gate=1" : "")
      << "</cmdline>\n  </os>\n"
      // ACPI: hot-plugging into pci.0 of the pc machine needs it.
      << "  <features><acpi/></features>\n"
      << "  <on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
      << "<on_crash>destroy</on_crash>\n  <devices>\n";
  char target = 'a';
  for (const auto& disk : guest.qcow2Disks) {
    xml << "    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='"
        << disk << "'/><target dev='vd" << target++ << "' bus='virtio'/></disk>\n";
  }
  if (!guest.scsiDisks.empty()) {
    xml << "    <controller type='scsi' index='0' model='virtio-scsi'/>\n";
  }
  for (size_t i = 0; i < guest.scsiDisks.size(); ++i) {
    xml << "    <disk type='file' device='disk'><driver name='qemu' type='"
        << guest.scsiDisks[i].format << "'/><source file='" << guest.scsiDisks[i].path
        << "'/><target dev='" << scsiTarget(i) << "' bus='scsi'/>"
        << "<address type='drive' controller='0' bus='0' target='" << i << "' unit='0'/></disk>\n";
  }
  xml << "    <serial type='file'><source path='" << console << "'/><target port='0'/></serial>\n";
  if (guest.gate) {
    xml << "    <serial type='unix'><source mode='bind' path='" << console
        << ".gate'/><target port='1'/></serial>\n";
  }
  xml << "    <memballoon model='none'/>\n  </devices>\n</domain>\n";
  return xml.str();
}

}  // namespace

void VmTest::defineDomain(const Guest& guest) {
  writeText(dir_->file("domain.xml"), domainXml(name_, guest, dir_->file("console.log")));
  CommandResult r = virsh({"define", dir_->file("domain.xml")});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  defined_ = true;
}

void VmTest::defineDomain(const std::string& domain, const Guest& guest) {
  // A domain left by an earlier run that was killed.
  virsh({"destroy", domain});
  virsh({"undefine", domain});
  std::string file = dir_->file(domain + ".xml");
  writeText(file, domainXml(domain, guest, consolePath(domain)));
  CommandResult r = virsh({"define", file});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  otherDomains_.push_back(domain);
}

std::string VmTest::consolePath(const std::string& domain) const {
  return dir_->file(domain + ".console.log");
}

std::string VmTest::uuid() { return uuidOf(name_); }

std::string VmTest::uuidOf(const std::string& domain) {
  CommandResult r = virsh({"domuuid", domain});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  std::string out = r.out;
  out.erase(out.find_last_not_of(" \n") + 1);
  return out;
}

CommandResult VmTest::virsh(std::vector<std::string> args) {
  args.insert(args.begin(), {"virsh", "-q", "-c", kUri});
  return run(args);
}

std::string VmTest::domainState() { return domainState(name_); }

std::string VmTest::domainState(const std::string& domain) {
  CommandResult r = virsh({"domstate", domain});
  std::string out = r.out;
  out.erase(out.find_last_not_of(" \n") + 1);
  return out;
}

bool VmTest::waitForState(const std::string& state, std::chrono::milliseconds deadline) {
  return pollUntil([&] { return domainState() == state; }, deadline);
}

bool VmTest::waitForState(const std::string& domain, const std::string& state,
                          std::chrono::milliseconds deadline) {
  return pollUntil([&] { return domainState(domain) == state; }, deadline);
}

std::string VmTest::console() const {
  std::string path = dir_ ? dir_->file("console.log") : "";
  return !path.empty() && fileExists(path) ? readFile(path) : "";
}

bool VmTest::waitForConsole(const std::string& text, std::chrono::milliseconds deadline) {
  return pollUntil([&] { return console().find(text) != std::string::npos; }, deadline);
}

std::vector<std::pair<std::string, std::string>> VmTest::blockDevices() {
  std::vector<std::pair<std::string, std::string>> devices;
  CommandResult r = virsh({"domblklist", name_});
  std::istringstream lines(r.out);
  std::string target, source;
  while (lines >> target >> source) devices.emplace_back(target, source);
  return devices;
}

std::string VmTest::readGuestFile(const std::string& image, const std::string& path) {
  std::string raw = dir_->file("guest-copy.raw");
  CommandResult r = run({"qemu-img", "convert", "-O", "raw", image, raw});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  r = run({"debugfs", "-R", "cat " + path, raw});
  std::filesystem::remove(raw);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return r.out;
}

uint64_t VmTest::virtualSize(const std::string& image) {
  // -U: QEMU holds the image's lock while the guest runs.
  CommandResult r = run({"qemu-img", "info", "-U", "--output=json", image});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  auto at = r.out.find("\"virtual-size\":");
  return at == std::string::npos ? 0 : std::stoull(r.out.substr(at + 15));
}

std::string VmTest::writeDaemonConfig(const DaemonOptions& options) {
  std::string conf = dir_->file("virt-scratchd.conf");
  std::string text = "[pool]\npath=" + poolPath() + "\n[templates]\nmode=" + options.templates +
                     "\n[libvirt]\nuri=" + kUri + "\n[hook]\ntimeout=5s\nfail=" + options.hookFail +
                     "\n";
  writeText(conf, text);
  // The hook reads the system's configuration: the test's goes there for the test's time.
  if (!systemConfigSaved_) {
    systemConfigSaved_ = true;
    if (fileExists(kSystemConfig)) {
      std::filesystem::copy_file(kSystemConfig, dir_->file("saved-system.conf"));
    }
  }
  std::filesystem::create_directories(std::filesystem::path(kSystemConfig).parent_path());
  writeText(kSystemConfig, text);
  return conf;
}

void VmTest::allowActivation(const DaemonOptions& options) {
  pid_t owner = nameOwnerPid();
  ASSERT_EQ(owner, -1) << "another process (pid " << owner << ") owns " << kBusName;
  std::string conf = writeDaemonConfig(options);
  std::filesystem::create_directories(std::filesystem::path(kActivationFile).parent_path());
  ASSERT_FALSE(fileExists(kActivationFile))
      << kActivationFile << " exists: another activation file would be replaced";
  // The bus's launch helper starts the daemon as root, with its output on /dev/null.
  writeText(kActivationFile, std::string("[D-BUS Service]\nName=") + kBusName + "\nExec=" +
                                 VIRT_SCRATCHD_BIN + " --config " + conf + "\nUser=root\n");
  activationAllowed_ = true;
  ASSERT_EQ(reloadBusConfig(), 0) << "the system bus did not reload its configuration";
}

// The system bus reads its service files again.
int VmTest::reloadBusConfig() {
  return run({"dbus-send", "--system", "--print-reply", "--dest=org.freedesktop.DBus",
              "/org/freedesktop/DBus", "org.freedesktop.DBus.ReloadConfig"})
      .exitCode;
}

pid_t VmTest::activatedDaemonPid() { return nameOwnerPid(); }

void VmTest::stopActivatedDaemon() {
  pid_t pid = nameOwnerPid();
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  EXPECT_TRUE(pollUntil([] { return nameOwnerPid() == -1; }, 30s))
      << "the activated virt-scratchd (pid " << pid << ") did not end within 30 s of SIGTERM";
}

void VmTest::startDaemon(const DaemonOptions& options) {
  pid_t owner = nameOwnerPid();
  ASSERT_EQ(owner, -1) << "another process (pid " << owner << ") owns " << kBusName
                       << " on the system bus: stop it before running the end-to-end tests";
  std::string conf = writeDaemonConfig(options);
  std::vector<std::string> args = {VIRT_SCRATCHD_BIN, "--config", conf};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, dir_->file("daemon.log").c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // The daemon must use the machine's system bus, where the hook finds it.
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::string(*e).rfind("DBUS_SYSTEM_BUS_ADDRESS=", 0) != 0) env.push_back(*e);
  }
  env.push_back(nullptr);
  int err = posix_spawn(&daemonPid_, argv[0], &actions, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  ASSERT_EQ(err, 0) << "cannot start " << VIRT_SCRATCHD_BIN;
  bool up = pollUntil(
      [&] {
        int status;
        if (waitpid(daemonPid_, &status, WNOHANG) == daemonPid_) {
          daemonPid_ = -1;
          return true;
        }
        return nameOwnerPid() == daemonPid_;
      },
      30s);
  ASSERT_TRUE(up && daemonPid_ > 0) << "virt-scratchd did not appear on the system bus; its log:\n"
                                    << daemonLog();
}

int VmTest::stopDaemon() {
  if (daemonPid_ <= 0) return -1;
  kill(daemonPid_, SIGTERM);
  int status = 0;
  bool ended = pollUntil([&] { return waitpid(daemonPid_, &status, WNOHANG) == daemonPid_; }, 30s);
  if (!ended) {
    kill(daemonPid_, SIGKILL);
    waitpid(daemonPid_, &status, 0);
    ADD_FAILURE() << "virt-scratchd did not end within 30 s of SIGTERM";
  }
  daemonPid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void VmTest::killDaemon() {
  if (daemonPid_ <= 0) return;
  kill(daemonPid_, SIGKILL);
  int status = 0;
  waitpid(daemonPid_, &status, 0);
  daemonPid_ = -1;
  // The bus frees the name when it sees the connection close, a moment after the process ends.
  EXPECT_TRUE(pollUntil([] { return nameOwnerPid() == -1; }, 10s))
      << kBusName << " still has an owner after virt-scratchd was killed";
}

std::string VmTest::daemonLog() const {
  return dir_ && fileExists(dir_->file("daemon.log")) ? readFile(dir_->file("daemon.log")) : "";
}

std::string VmTest::poolImage(const std::string& target, const std::string& format) {
  return poolPath() + "/" + uuid() + "/" + target + "." + format;
}

bool VmTest::waitForFile(const std::string& path, bool present,
                         std::chrono::milliseconds deadline) {
  return pollUntil([&] { return fileExists(path) == present; }, deadline);
}

void VmTest::openGate() {
  if (!gate_) {
    // QEMU listens on it from the domain's start (<serial type='unix'> in bind mode).
    std::string path = dir_->file("console.log.gate");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    ASSERT_LT(path.size(), sizeof address.sun_path) << path;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    gate_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(gate_) << std::strerror(errno);
    ASSERT_EQ(connect(gate_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0)
        << "cannot connect to the guest's second serial port " << path << ": "
        << std::strerror(errno);
  }
  ASSERT_EQ(write(gate_.get(), "go\n", 3), 3) << std::strerror(errno);
}

CommandResult VmTest::cli(std::vector<std::string> args) {
  args.insert(args.begin(), VIRT_SCRATCH_BIN);
  return run(args);
}

}  // namespace virtscratch::test
