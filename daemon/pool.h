// The pool directory and what the daemon knows of its images. Every file in the pool is reached
// relative to the pool's directory descriptor with O_NOFOLLOW, so a symlink planted in the pool
// is never followed. Loop thread, except fd(), path() and imagePath(), which workers may read.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/image_record.h"
#include "daemon/record_file.h"
#include "daemon/template_ref.h"

namespace virtscratch::daemon {

// An image the pool holds: its record, and for an overlay the use of the template it is backed by
// (dropped with the entry when the image is released).
struct PoolEntry : StoredRecord {
  TemplateRef templateUse;
  uint64_t allocated = 0;  // host bytes of its file as the last count found (refreshAllocation)
  // In a shared pool: the image file, open with the owner's lock (shared_pool.h) while this host
  // owns it; the lock goes with the entry.
  std::shared_ptr<UniqueFd> ownerLock;
};

// Where remove() parks an image's file until a worker deletes it (Pool::setDeleter); what a crash
// left there is deleted when the pool is next opened (pool_recovery.h).
inline constexpr char kReleasedDirName[] = ".released";

class Pool {
 public:
  explicit Pool(std::string path) : path_(std::move(path)) {}

  // Creates the pool directory (0750; missing parents 0755) and opens it.
  Status open();
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  std::string imagePath(std::string_view domainUuid, std::string_view target,
                        image::ImageFormat format) const;

  // The domain's directory, made (0750) when missing; `created` says whether it was.
  Result<UniqueFd> openDomainDir(std::string_view domainUuid, bool* created);
  // The domain's directory as it is (never made, never through a symlink); invalid, with errno
  // set, when it cannot be opened.
  UniqueFd domainDir(std::string_view domainUuid) const;
  // Writes the entry's record again (record_file.h), as it is now in memory.
  Status writeRecord(const PoolEntry& entry) const;
  // Removes the domain's directory if nothing is in it.
  void removeDomainDirIfEmpty(std::string_view domainUuid);

  // Adds the image, claimed now (see ImageRecord::claim).
  void insert(StoredRecord stored, TemplateRef templateUse = nullptr);
  // Marks the image as claimed now by an Allocate that returns it.
  void claim(PoolEntry& entry) { entry.record.claim = ++claims_; }
  // The latest claim: every image claimed so far has a claim at most this.
  uint64_t lastClaim() const { return claims_; }
  const PoolEntry* find(std::string_view id) const;
  PoolEntry* find(std::string_view id);
  std::vector<const PoolEntry*> entries() const;  // sorted by id
  std::vector<std::string> idsInDomain(std::string_view domainUuid) const;
  uint64_t usedBytes() const { return used_; }  // sum of virtual sizes
  // Sum of the images' host bytes as last counted: each image is counted when it is inserted and
  // at every refreshAllocation(), so reading it costs no stat.
  uint64_t allocatedTotal() const { return allocated_; }
  // Counts the host bytes of every image again (one openat and fstatat each).
  void refreshAllocation();
  size_t size() const { return entries_.size(); }

  // Deletes the image's files and forgets it. The record is renamed away first, so a crash at any
  // point leaves either the whole image or a record-less image that start() deletes; then the
  // image is moved to .released/ under a name of its own (with a deleter; otherwise, or when it
  // cannot be moved, unlinked), the renamed record unlinked and the directory fsynced. The image
  // is gone from its path when remove() returns; a parked file goes to the deleter.
  Result<PoolEntry> remove(std::string_view id);
  // Who deletes the files remove() parks, given the name in releasedFd() and the host bytes it
  // holds; it calls parkedDeleted(bytes) on the loop thread once the file is gone. Unlinking a
  // large file waits for the filesystem to free (with `discard`, to trim) every block of it, a
  // second or more for a few GiB written: the Service does it on a worker, not on the loop.
  void setDeleter(std::function<void(std::string name, uint64_t bytes)> deleter) {
    deleter_ = std::move(deleter);
  }
  int releasedFd() const { return releasedFd_.get(); }
  void parkedDeleted(uint64_t bytes) { parked_ -= std::min(bytes, parked_); }
  // Shared pools: opens the image and takes the owner's lock (shared_pool.h) into
  // `entry.ownerLock`; kBusy when another host's daemon holds it.
  Status holdOwnerLock(PoolEntry& entry);
  // Forgets the image and leaves its files as they are: a shared pool's image that another host
  // takes over, or was never this host's to delete.
  Result<PoolEntry> forget(std::string_view id);

  // Bytes the pool's filesystem has available to the daemon (statvfs f_bavail), and those of
  // parked files, which are being deleted.
  Result<uint64_t> availableBytes() const;
  // The size of the pool's filesystem (statvfs f_blocks), for a reserve given as a percentage.
  Result<uint64_t> totalBytes() const;
  // Host bytes the image occupies, read now; 0 when it cannot be read.
  uint64_t allocatedBytes(const ImageRecord& record) const;

 private:
  std::string path_;
  // Moves `image` from `dir` into .released/ (made when missing); its new name there and its host
  // bytes, or nothing when it cannot be moved.
  std::optional<std::pair<std::string, uint64_t>> park(int dir, const std::string& image);

  UniqueFd fd_;
  UniqueFd releasedFd_;  // .released/, opened by the first park()
  std::function<void(std::string name, uint64_t bytes)> deleter_;
  uint64_t parked_ = 0;  // host bytes of parked files not yet deleted
  std::map<std::string, PoolEntry, std::less<>> entries_;
  uint64_t claims_ = 0;
  // Kept by insert() and remove(), so that an Allocate does not sum the pool; an image's virtual
  // size does not change while the pool holds it.
  uint64_t used_ = 0;
  uint64_t allocated_ = 0;  // sum of the entries' `allocated`
};

}  // namespace virtscratch::daemon
