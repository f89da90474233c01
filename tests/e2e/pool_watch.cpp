#include "tests/e2e/pool_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace virtscratch::test {

PoolWatch::PoolWatch() : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}

PoolWatch::~PoolWatch() {
  if (fd_ >= 0) close(fd_);
}

namespace {
constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;
}  // namespace

void PoolWatch::add(const std::string& dir) {
  int wd = inotify_add_watch(fd_, dir.c_str(), kWatchMask | IN_ONLYDIR);
  if (wd >= 0) dirs_[wd] = dir;
}

void PoolWatch::watchPool(const std::string& pool) {
  pool_ = pool;
  add(pool);
  std::error_code error;
  for (const auto& e : std::filesystem::directory_iterator(pool, error)) {
    if (e.is_directory(error) && !e.is_symlink(error)) add(e.path());
  }
}

void PoolWatch::read() {
  alignas(inotify_event) char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return;
    for (char* p = buf; p < buf + n;) {
      auto* event = reinterpret_cast<inotify_event*>(p);
      p += sizeof(inotify_event) + event->len;
      if (event->mask & IN_IGNORED) {
        dirs_.erase(event->wd);
        continue;
      }
      if ((event->mask & kWatchMask) == 0) continue;
      ++count_;
      auto dir = dirs_.find(event->wd);
      if ((event->mask & IN_ISDIR) && (event->mask & IN_CREATE) && dir != dirs_.end() &&
          dir->second == pool_ && event->len > 0) {
        add(pool_ + "/" + event->name);
      }
    }
  }
}

Child::Child(const std::vector<std::string>& argv) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe: " << std::strerror(errno);
    return;
  }
  pid_ = fork();
  if (pid_ == 0) {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    setenv("LC_ALL", "C", 1);
    execvp(args[0], args.data());
    dprintf(2, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  fds_[0] = out[0];
  fds_[1] = err[0];
  for (int fd : fds_) fcntl(fd, F_SETFL, O_NONBLOCK);
}

Child::~Child() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

void Child::pump(int timeoutMs, int extraFd) {
  pollfd fds[3] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}, {extraFd, POLLIN, 0}};
  if (poll(fds, 3, timeoutMs) <= 0) return;
  std::string* sinks[2] = {&out_, &err_};
  char buf[65536];
  for (int i = 0; i < 2; ++i) {
    if (fds_[i] < 0 || fds[i].revents == 0) continue;
    ssize_t n = ::read(fds_[i], buf, sizeof buf);
    if (n > 0) {
      sinks[i]->append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EAGAIN) {
      close(fds_[i]);
      fds_[i] = -1;
    }
  }
}

bool Child::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
  exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return false;
}

void Child::waitFor(PoolWatch& watch, const std::function<bool()>& fired,
                    std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    watch.read();
    if (fired() || !running() || std::chrono::steady_clock::now() >= end) return;
    // Short: some triggers (a file's contents) have no descriptor to wait on.
    pump(20, watch.fd());
  }
}

CommandResult Child::finish(std::chrono::milliseconds deadline) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while ((fds_[0] >= 0 || fds_[1] >= 0) && std::chrono::steady_clock::now() < end) pump(100, -1);
  if (fds_[0] >= 0 || fds_[1] >= 0) {
    hung_ = true;
    if (pid_ > 0) kill(pid_, SIGKILL);
  }
  if (pid_ > 0) {
    int status = 0;
    waitpid(pid_, &status, 0);
    exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
  }
  return {exitCode_, out_, err_};
}

}  // namespace virtscratch::test
