// What the crash test needs to act while a request is half-done: inotify events in the pool
// (PoolWatch) and a command running in the background whose output is read as it comes (Child).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace virtscratch::test {

// Creations, deletions and renames in a pool directory, its .templates and its domain
// directories (watched as they appear), and in any other directory added: the events at which a
// test kills the daemon while a request is half-done. Files made with O_TMPFILE show only when
// they are published.
class PoolWatch {
 public:
  PoolWatch();
  ~PoolWatch();
  PoolWatch(const PoolWatch&) = delete;
  PoolWatch& operator=(const PoolWatch&) = delete;

  void add(const std::string& dir);
  // `pool`, its .templates and every directory in it (again after a restart: a watch ends with
  // its directory).
  void watchPool(const std::string& pool);
  int fd() const { return fd_; }
  // Reads the queued events; counts them and watches new directories of a watched pool.
  void read();
  void drain() {
    read();
    count_ = 0;
  }
  int count() const { return count_; }

 private:
  int fd_ = -1;
  std::map<int, std::string> dirs_;  // watch descriptor -> directory
  std::string pool_;
  int count_ = 0;
};

// A command run in the background, its output read as it comes, so that a test can act while
// it is half-way (kill the daemon after its request went out).
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);  // stdin from /dev/null
  ~Child();                                              // SIGKILL if it still runs
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads the child's output and `watch`'s events until `fired()` holds, the child ended or the
  // deadline passed.
  void waitFor(PoolWatch& watch, const std::function<bool()>& fired,
               std::chrono::milliseconds deadline);
  bool running();
  // Reads to the end and reaps the child; after `deadline` kills it and hung() says so.
  CommandResult finish(std::chrono::milliseconds deadline);
  bool hung() const { return hung_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  void pump(int timeoutMs, int extraFd);
  pid_t pid_ = -1;
  int fds_[2] = {-1, -1};  // stdout, stderr
  std::string out_, err_;
  int exitCode_ = -1;
  bool hung_ = false;
};

}  // namespace virtscratch::test
