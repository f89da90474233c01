#include "base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "base/unique_fd.h"

extern char** environ;

namespace virtscratch {
namespace {

// Which Debian package ships a tool, for the "not found" message.
std::string_view packageOf(std::string_view tool) {
  if (tool.starts_with("mkfs.ext") || tool == "mke2fs" || tool == "tune2fs" ||
      tool == "resize2fs" || tool == "debugfs" || tool == "e2fsck")
    return "e2fsprogs";
  if (tool.starts_with("mkfs.xfs") || tool.starts_with("xfs_")) return "xfsprogs";
  if (tool.starts_with("mkfs.btrfs") || tool.starts_with("btrfs")) return "btrfs-progs";
  if (tool.starts_with("mkfs.fat") || tool.starts_with("mkfs.vfat") || tool == "fatlabel")
    return "dosfstools";
  if (tool == "mcopy" || tool == "mmd" || tool == "mdir" || tool == "mlabel") return "mtools";
  if (tool == "mkswap" || tool == "swaplabel") return "util-linux";
  if (tool.starts_with("qemu-")) return "qemu-utils";
  return {};
}

class SpawnActions {
 public:
  SpawnActions() { posix_spawn_file_actions_init(&actions_); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&actions_); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
};

Result<std::pair<UniqueFd, UniqueFd>> makePipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return errnoStatus("pipe", errno);
  return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// "NAME=" of an environment entry.
std::string_view nameOf(std::string_view entry) { return entry.substr(0, entry.find('=') + 1); }

std::vector<char*> environmentWithCLocale(std::vector<std::string>& storage,
                                          const std::vector<std::string>& added) {
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (entry.starts_with("LC_ALL=") || entry.starts_with("LANG=")) continue;
    bool replaced = std::any_of(added.begin(), added.end(),
                                [&](const std::string& a) { return nameOf(a) == nameOf(entry); });
    if (!replaced) storage.emplace_back(entry);
  }
  storage.insert(storage.end(), added.begin(), added.end());
  storage.emplace_back("LC_ALL=C");
  std::vector<char*> env;
  for (auto& s : storage) env.push_back(s.data());
  env.push_back(nullptr);
  return env;
}

}  // namespace

Result<ProcessOutput> runProcess(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& environment) {
  if (argv.empty()) return invalidArgument("no program to run");
  VS_ASSIGN_OR_RETURN(auto outPipe, makePipe());
  VS_ASSIGN_OR_RETURN(auto errPipe, makePipe());

  SpawnActions actions;
  posix_spawn_file_actions_addopen(actions.get(), 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(actions.get(), outPipe.second.get(), 1);
  posix_spawn_file_actions_adddup2(actions.get(), errPipe.second.get(), 2);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> envStorage;
  std::vector<char*> env = environmentWithCLocale(envStorage, environment);

  pid_t pid = 0;
  int rc = posix_spawnp(&pid, args[0], actions.get(), nullptr, args.data(), env.data());
  if (rc != 0) {
    std::string message = "cannot run " + argv[0] + ": " + std::strerror(rc);
    std::string_view package = packageOf(argv[0]);
    if (rc == ENOENT && !package.empty()) {
      message += "; install it with: apt-get install " + std::string(package);
    }
    return failed(std::move(message));
  }
  outPipe.second.reset();
  errPipe.second.reset();

  ProcessOutput output;
  pollfd fds[2] = {{outPipe.first.get(), POLLIN, 0}, {errPipe.first.get(), POLLIN, 0}};
  std::string* sinks[2] = {&output.out, &output.err};
  int open = 2;
  char buf[8192];
  while (open > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open;
      }
    }
  }
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR) return errnoStatus("waitpid " + argv[0], errno);
  }
  output.exitCode = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return output;
}

Result<ProcessOutput> runChecked(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& environment) {
  VS_ASSIGN_OR_RETURN(ProcessOutput output, runProcess(argv, environment));
  if (output.exitCode != 0) {
    std::string err = output.err.empty() ? output.out : output.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return failed(argv[0] + " failed (exit " + std::to_string(output.exitCode) + "): " + err);
  }
  return output;
}

}  // namespace virtscratch
