// One thread for the watcher's libvirt calls. libvirtd holds a domain locked while its hooks
// run, and virt-scratch's hook waits for the daemon's Allocate: a lookup of that domain made on
// the loop thread would wait for the hook, which waits for the loop, until the hook times out
// (and D-Bus activation by the hook's first call makes that the usual case at the daemon's
// start, when the watcher reconciles). Calls made here only wait; the loop keeps serving.
// Jobs run one at a time in the order posted; post() from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace virtscratch::daemon::libvirt {

class LibvirtWorker {
 public:
  LibvirtWorker();
  // Waits for the job that runs; drops the ones not started.
  ~LibvirtWorker();
  LibvirtWorker(const LibvirtWorker&) = delete;
  LibvirtWorker& operator=(const LibvirtWorker&) = delete;

  void post(std::function<void()> job);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace virtscratch::daemon::libvirt
