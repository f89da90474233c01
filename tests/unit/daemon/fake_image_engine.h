// A fake ImageEngine for the Service's unit tests: no mkfs, no qcow2, no gzip. It records what it
// was asked (one Call per operation, with the spec, the file name, the clone's source and new
// UUID) and leaves a sparse file of the asked virtual size where the real engine would leave an
// image, so the pool's own logic (records, sizes, quota, release, recovery) still sees files.
// A test can hold an operation: each call of it then waits (on its worker) until released, so
// the order in which the Service schedules work can be seen. Called on the Service's worker
// threads: every member is guarded by one mutex.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/unique_fd.h"
#include "daemon/image_engine.h"

namespace virtscratch::daemon::fake {

class FakeImageEngine final : public ImageEngine {
 public:
  enum class Op { kCreate, kClone, kExport, kEncrypt };
  struct Call {
    Op op;
    std::string name;        // the file made (create, clone)
    image::ImageSpec spec;   // create: as asked
    std::string source;      // clone: the source's path
    std::string uuid;        // clone: the new filesystem UUID
    bool overlay = false;    // clone: a qcow2 overlay on the source
    uint64_t size = 0;       // the virtual size written (create, clone) or exported
    std::string passphrase;  // create, encrypt: the key an encrypted image was given
  };

  Status create(int dirFd, std::string_view name, const image::ImageSpec& spec,
                const image::CreateOptions& options) override {
    waitWhileHeld(Op::kCreate);
    if (Status s = failure(); !s.ok()) return s;
    VS_RETURN_IF_ERROR(makeSparse(dirFd, name, spec.size, options.force, options.mode));
    record({Op::kCreate, std::string(name), spec, "", spec.uuid, false, spec.size,
            options.passphrase});
    return {};
  }

  Status clone(int srcFd, const std::string& srcPath, int dstDirFd, std::string_view dstName,
               const image::CloneOptions& options) override {
    waitWhileHeld(Op::kClone);
    if (Status s = failure(); !s.ok()) return s;
    struct stat st;
    if (fstat(srcFd, &st) != 0) return errnoStatus("stat " + srcPath, errno);
    if (static_cast<uint64_t>(st.st_size) < kHeader.size())
      return failed(srcPath + " is not an image the fake made");
    auto size = static_cast<uint64_t>(st.st_size);
    VS_RETURN_IF_ERROR(makeSparse(dstDirFd, dstName, size, options.force, options.mode));
    record({Op::kClone,
            std::string(dstName),
            {},
            srcPath,
            options.filesystemUuid,
            options.backing,
            size,
            {}});
    return {};
  }

  Status exportGzip(const image::DiskView& disk, int outFd,
                    const image::ExportOptions& /*options*/) override {
    waitWhileHeld(Op::kExport);
    if (Status s = failure(); !s.ok()) return s;
    std::string text = "fake export of " + std::to_string(disk.virtualSize()) + " bytes\n";
    if (write(outFd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      return errnoStatus("write the fake export", errno);
    }
    record({Op::kExport, "", {}, "", "", false, disk.virtualSize(), {}});
    return {};
  }

  Status encryptRaw(int /*rawFd*/, uint64_t size, int dirFd, std::string_view name,
                    image::ImageFormat /*format*/, const std::string& passphrase,
                    std::optional<mode_t> mode) override {
    waitWhileHeld(Op::kEncrypt);
    if (Status s = failure(); !s.ok()) return s;
    VS_RETURN_IF_ERROR(makeSparse(dirFd, name, size, false, mode));
    record({Op::kEncrypt, std::string(name), {}, "", "", false, size, passphrase});
    return {};
  }

  std::vector<Call> calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  size_t count(Op op) const {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(
        std::count_if(calls_.begin(), calls_.end(), [op](const Call& c) { return c.op == op; }));
  }
  // Calls of `op` wait from now on until release(op).
  void hold(Op op) {
    std::lock_guard lock(mutex_);
    held_.insert(op);
  }
  void release(Op op) {
    {
      std::lock_guard lock(mutex_);
      held_.erase(op);
    }
    released_.notify_all();
  }
  // How many calls of `op` wait now.
  size_t waiting(Op op) const {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(std::count(waiting_.begin(), waiting_.end(), op));
  }
  // Blocks the test's thread until `count` calls of `op` wait; false after 20 s.
  bool awaitWaiting(Op op, size_t count) const {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, std::chrono::seconds(20), [&] {
      return static_cast<size_t>(std::count(waiting_.begin(), waiting_.end(), op)) >= count;
    });
  }
  // Every operation from now on fails with `status` (ok: they work again).
  void failWith(Status status) {
    std::lock_guard lock(mutex_);
    failure_ = std::move(status);
  }

 private:
  static constexpr std::string_view kHeader = "fake image\n";

  void waitWhileHeld(Op op) {
    std::unique_lock lock(mutex_);
    if (held_.count(op) == 0) return;
    waiting_.push_back(op);
    arrived_.notify_all();
    released_.wait(lock, [&] { return held_.count(op) == 0; });
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), op));
  }
  Status failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }
  void record(Call call) {
    std::lock_guard lock(mutex_);
    calls_.push_back(std::move(call));
  }
  static Status makeSparse(int dirFd, std::string_view name, uint64_t size, bool force,
                           std::optional<mode_t> mode) {
    std::string file(name);
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    UniqueFd fd(openat(dirFd, file.c_str(), flags, mode.value_or(0600)));
    if (!fd) return errnoStatus("create " + file, errno);
    // A few bytes of data, so that the file occupies host blocks as an image does.
    if (size < kHeader.size() ||
        write(fd.get(), kHeader.data(), kHeader.size()) != static_cast<ssize_t>(kHeader.size()) ||
        ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
      Status status = errnoStatus("size " + file, errno);
      unlinkat(dirFd, file.c_str(), 0);
      return status;
    }
    return {};
  }

  mutable std::mutex mutex_;
  std::condition_variable released_;
  mutable std::condition_variable arrived_;
  std::set<Op> held_;
  std::vector<Op> waiting_;
  std::vector<Call> calls_;
  Status failure_;
};

}  // namespace virtscratch::daemon::fake
