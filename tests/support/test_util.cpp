#include "tests/support/test_util.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace virtscratch::test {
namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr ? base : "/var/tmp") + "/vs-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::vector<std::string> TempDir::entries() const {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(path_)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

CommandResult runWithInput(const std::vector<std::string>& argv, const std::string& input) {
  int inPipe[2], outPipe[2], errPipe[2];
  if (pipe2(inPipe, O_CLOEXEC) != 0 || pipe2(outPipe, O_CLOEXEC) != 0 ||
      pipe2(errPipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  pid_t pid = fork();
  if (pid == 0) {
    dup2(inPipe[0], 0);
    dup2(outPipe[1], 1);
    dup2(errPipe[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    setenv("LC_ALL", "C", 1);
    execvp(args[0], args.data());
    dprintf(2, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(inPipe[0]);
  close(outPipe[1]);
  close(errPipe[1]);
  CommandResult result;
  size_t written = 0;
  int inFd = inPipe[1];
  if (input.empty()) {
    close(inFd);
    inFd = -1;
  } else {
    fcntl(inFd, F_SETFL, O_NONBLOCK);
  }
  pollfd fds[3] = {{outPipe[0], POLLIN, 0}, {errPipe[0], POLLIN, 0}, {inFd, POLLOUT, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  char buf[65536];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (poll(fds, 3, -1) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
    if (fds[2].fd >= 0 && fds[2].revents != 0) {
      ssize_t n = write(fds[2].fd, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == input.size()) {
        close(fds[2].fd);
        fds[2].fd = -1;
      }
    }
  }
  if (fds[2].fd >= 0) close(fds[2].fd);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

CommandResult run(const std::vector<std::string>& argv) { return runWithInput(argv, {}); }

void writeFileAt(const std::string& path, uint64_t offset, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path);
  if (pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(data.size())) {
    close(fd);
    throw std::runtime_error("pwrite " + path);
  }
  close(fd);
}

void makeSparseFile(const std::string& path, uint64_t size) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(size)) != 0) {
    throw std::runtime_error("makeSparseFile " + path);
  }
  close(fd);
}

std::string patternBytes(uint64_t length, uint64_t seed) {
  std::string s(length, '\0');
  for (uint64_t i = 0; i < length; ++i) s[i] = static_cast<char>(1 + (seed + i * 7) % 251);
  return s;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool fileExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

uint64_t allocatedBytesOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

namespace {

void walkTree(const std::string& root, const std::string& rel,
              std::map<std::string, std::string>& tree) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/" + rel, error)) {
    std::string name = (rel.empty() ? "" : rel + "/") + entry.path().filename().string();
    struct stat st;
    if (lstat(entry.path().c_str(), &st) != 0) continue;
    tree[name] = std::to_string(st.st_mode) + ":" + std::to_string(st.st_size) + ":" +
                 std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
    if (S_ISDIR(st.st_mode)) walkTree(root, name, tree);
  }
}

}  // namespace

std::map<std::string, std::string> treeSnapshot(const std::string& root,
                                                const std::set<std::string>& skip) {
  std::map<std::string, std::string> tree;
  walkTree(root, "", tree);
  for (auto it = tree.begin(); it != tree.end();) {
    it = skip.count(it->first.substr(0, it->first.find('/'))) != 0 ? tree.erase(it) : std::next(it);
  }
  return tree;
}

}  // namespace virtscratch::test

namespace virtscratch::test {

void extractRange(const std::string& src, uint64_t offset, uint64_t length,
                  const std::string& dst) {
  int in = open(src.c_str(), O_RDONLY | O_CLOEXEC);
  int out = open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (in < 0 || out < 0 || ftruncate(out, static_cast<off_t>(length)) != 0) {
    throw std::runtime_error("extractRange: open " + src + " or " + dst);
  }
  std::vector<char> buf(1 << 20);
  uint64_t end = offset + length;
  uint64_t pos = offset;
  while (pos < end) {
    off_t data = lseek(in, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 || static_cast<uint64_t>(data) >= end) break;
    off_t hole = lseek(in, data, SEEK_HOLE);
    uint64_t stop = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    for (uint64_t p = static_cast<uint64_t>(data); p < stop;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), stop - p));
      ssize_t r = pread(in, buf.data(), n, static_cast<off_t>(p));
      if (r <= 0 ||
          pwrite(out, buf.data(), static_cast<size_t>(r), static_cast<off_t>(p - offset)) != r) {
        throw std::runtime_error("extractRange: copy failed");
      }
      p += static_cast<uint64_t>(r);
    }
    pos = stop;
  }
  close(in);
  close(out);
}

std::map<std::string, std::string> parseExport(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return values;
}

}  // namespace virtscratch::test
