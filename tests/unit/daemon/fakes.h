// Fakes at the Service's seams for the daemon's unit tests: a loop the test drains itself, a
// listener that records what it heard, and a resolver with a fixed table of domains.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/loop_invoker.h"
#include "daemon/secret_store.h"
#include "daemon/service.h"
#include "vocabulary/domain_uuid.h"

namespace virtscratch::daemon::fake {

class FakeLoop : public LoopInvoker {
 public:
  void post(std::function<void()> fn) override {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(std::move(fn));
    }
    wake_.notify_one();
  }

  // Runs posted work on this (the "loop") thread until `done` holds; false at the deadline.
  bool runUntil(const std::function<bool()>& done,
                std::chrono::seconds deadline = std::chrono::seconds(60)) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (!done()) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mutex_);
        if (!wake_.wait_until(lock, end, [this] { return !queue_.empty(); })) return false;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
    return true;
  }

  // Work posted with a delay waits until the test says its time has come.
  void postAfter(unsigned delayMs, std::function<void()> fn) override {
    (void)delayMs;
    std::lock_guard lock(mutex_);
    timers_.push_back(std::move(fn));
  }
  // Queues every delayed item, as if its delay had passed, and runs the queue; how many fired.
  size_t fireTimers() {
    size_t fired = 0;
    {
      std::lock_guard lock(mutex_);
      fired = timers_.size();
      for (auto& fn : timers_) queue_.push_back(std::move(fn));
      timers_.clear();
    }
    drain();
    return fired;
  }

  // Runs what is queued now, without waiting for more.
  void drain() {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) return;
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  std::deque<std::function<void()>> timers_;
};

class FakeListener : public ServiceListener {
 public:
  void imageAdded(const ImageRecord& record) override { added.push_back(record); }
  void imageChanged(const ImageRecord& record) override { changed.push_back(record); }
  void imageRemoved(const ImageRecord& record, std::string_view reason) override {
    removed.push_back({record, std::string(reason)});
  }
  void jobAdded(const JobInfo& job) override { jobsAdded.push_back(job); }
  void jobProgress(const JobInfo& job) override {
    progress.push_back({job, std::chrono::steady_clock::now()});
  }
  void jobCompleted(const JobInfo& job, const Status& status) override {
    completed.push_back({job, status});
  }

  std::vector<ImageRecord> added;
  std::vector<ImageRecord> changed;
  std::vector<std::pair<ImageRecord, std::string>> removed;
  std::vector<JobInfo> jobsAdded;
  std::vector<std::pair<JobInfo, std::chrono::steady_clock::time_point>> progress;
  std::vector<std::pair<JobInfo, Status>> completed;
};

// UUIDs are taken as they are; names come from `names`.
class FakeResolver : public DomainResolver {
 public:
  Result<DomainId> resolve(std::string_view uuidOrName) override {
    ++calls;
    if (vocabulary::isUuid(uuidOrName)) return DomainId{std::string(uuidOrName), ""};
    auto it = names.find(std::string(uuidOrName));
    if (it == names.end()) {
      return Status(ErrorCode::kNotFound, "no domain '" + std::string(uuidOrName) + "'");
    }
    return DomainId{it->second, it->first};
  }
  std::map<std::string, std::string> names;
  int calls = 0;
};

// Keeps the keys it is given in `keys` and notes what is dropped; `error` set: refuses to keep
// any. Answers through the loop, as the libvirt store does.
class FakeSecretStore : public SecretStore {
 public:
  explicit FakeSecretStore(LoopInvoker& loop) : loop_(loop) {}
  void put(DiskKey key, std::function<void(Status)> done) override {
    Status answer = error;
    if (answer.ok()) keys[key.secretUuid] = key;
    puts.push_back(std::move(key));
    loop_.post([done = std::move(done), answer] { done(answer); });
  }
  void drop(const std::string& secretUuid) override {
    keys.erase(secretUuid);
    dropped.push_back(secretUuid);
  }
  Result<std::string> reveal(const std::string& secretUuid) const override {
    auto it = keys.find(secretUuid);
    if (it == keys.end()) return Status(ErrorCode::kNotFound, "no key " + secretUuid);
    return it->second.passphrase;
  }
  Result<std::string> passphraseFor(const std::string& secretUuid) const override {
    return reveal(secretUuid);
  }
  std::map<std::string, DiskKey> keys;  // kept now, by secret UUID
  std::vector<DiskKey> puts;            // every put, kept or not
  std::vector<std::string> dropped;
  Status error;

 private:
  LoopInvoker& loop_;
};

// Domains that run, with the files their live definitions use; answers through the loop, as
// the libvirt probe does. `error` set: it cannot tell.
class FakeProbe : public AttachmentProbe {
 public:
  explicit FakeProbe(LoopInvoker& loop) : loop_(loop) {}
  void inUse(const std::string& domainUuid, std::vector<std::string> paths,
             std::function<void(Result<DomainUse>)> done) override {
    asked.push_back({domainUuid, paths});
    Result<DomainUse> answer = DomainUse{};
    if (!error.ok()) {
      answer = error;
    } else if (auto it = running.find(domainUuid); it != running.end()) {
      DomainUse use{names[domainUuid], {}};
      for (const std::string& path : paths) {
        for (const std::string& used : it->second) {
          if (used == path) use.attachedPaths.push_back(path);
        }
      }
      answer = use;
    }
    loop_.post([done = std::move(done), answer] { done(answer); });
  }
  std::map<std::string, std::vector<std::string>> running;  // domain UUID -> disk sources
  std::map<std::string, std::string> names;                 // domain UUID -> name
  Status error;
  std::vector<std::pair<std::string, std::vector<std::string>>> asked;

 private:
  LoopInvoker& loop_;
};

}  // namespace virtscratch::daemon::fake
