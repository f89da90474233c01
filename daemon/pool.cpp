#include "daemon/pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "base/temp_file.h"
#include "daemon/file_modes.h"
#include "daemon/log.h"
#include "daemon/shared_pool.h"
#include "vocabulary/image_id.h"
#include "vocabulary/pool_layout.h"

namespace virtscratch::daemon {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

// Pool and domain directories: QEMU, running as another user (libvirt-qemu), must traverse them
// to open an image that libvirt has handed to it, but nobody else may list them. Set with chmod
// because the unit's UMask=0077 would take the x bits off a plain mkdir.
constexpr mode_t kDirMode = kDomainDirMode;

Status makeDirectories(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string parent = path.substr(0, slash);
    if (mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
      return errnoStatus("cannot create '" + parent + "' for the pool", errno);
    }
  }
  if (mkdir(path.c_str(), kDirMode) == 0) {
    if (chmod(path.c_str(), kDirMode) != 0) {
      return errnoStatus("cannot set the mode of the pool directory '" + path + "'", errno);
    }
  } else if (errno != EEXIST) {
    return errnoStatus("cannot create the pool directory '" + path + "'", errno);
  }
  return {};
}

}  // namespace

Status Pool::open() {
  VS_RETURN_IF_ERROR(makeDirectories(path_));
  fd_.reset(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd_) return errnoStatus("cannot open the pool directory '" + path_ + "'", errno);
  return {};
}

std::string Pool::imagePath(std::string_view domainUuid, std::string_view target,
                            image::ImageFormat format) const {
  return vocabulary::imagePath(path_, domainUuid, target, format);
}

Result<UniqueFd> Pool::openDomainDir(std::string_view domainUuid, bool* created) {
  std::string name(domainUuid);
  *created = mkdirat(fd_.get(), name.c_str(), kDirMode) == 0;
  if (!*created && errno != EEXIST) {
    return errnoStatus("cannot create '" + path_ + "/" + name + "'", errno);
  }
  UniqueFd dir(openat(fd_.get(), name.c_str(), kDirFlags));
  if (!dir) {
    int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      return failed("'" + path_ + "/" + name +
                    "' is not a directory; remove it from the pool and try again");
    }
    return errnoStatus("cannot open '" + path_ + "/" + name + "'", err);
  }
  if (*created && fchmod(dir.get(), kDirMode) != 0) {
    return errnoStatus("cannot set the mode of '" + path_ + "/" + name + "'", errno);
  }
  return dir;
}

UniqueFd Pool::domainDir(std::string_view domainUuid) const {
  return UniqueFd(openat(fd_.get(), std::string(domainUuid).c_str(), kDirFlags));
}

Status Pool::writeRecord(const PoolEntry& entry) const {
  UniqueFd dir = domainDir(entry.record.domainUuid);
  if (!dir) return errnoStatus("cannot open the directory of " + entry.record.id, errno);
  return writeRecordAt(dir.get(), entry);
}

void Pool::removeDomainDirIfEmpty(std::string_view domainUuid) {
  std::string name(domainUuid);
  // rmdir refuses a directory that holds anything, which is the check wanted.
  if (unlinkat(fd_.get(), name.c_str(), AT_REMOVEDIR) == 0) fsync(fd_.get());
}

void Pool::insert(StoredRecord stored, TemplateRef templateUse) {
  PoolEntry entry{std::move(stored), std::move(templateUse), 0, nullptr};
  entry.record.path =
      imagePath(entry.record.domainUuid, entry.record.target, entry.record.spec.format);
  entry.record.claim = ++claims_;
  entry.allocated = allocatedBytes(entry.record);
  std::string id = entry.record.id;
  used_ += entry.record.spec.size;
  allocated_ += entry.allocated;
  auto [it, added] = entries_.try_emplace(id);
  if (!added) {
    used_ -= it->second.record.spec.size;
    allocated_ -= it->second.allocated;
  }
  it->second = std::move(entry);
}

void Pool::refreshAllocation() {
  uint64_t total = 0;
  for (auto& [id, entry] : entries_) {
    entry.allocated = allocatedBytes(entry.record);
    total += entry.allocated;
  }
  allocated_ = total;
}

const PoolEntry* Pool::find(std::string_view id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

PoolEntry* Pool::find(std::string_view id) {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<const PoolEntry*> Pool::entries() const {
  std::vector<const PoolEntry*> out;
  out.reserve(entries_.size());
  for (const auto& [id, entry] : entries_) out.push_back(&entry);
  return out;
}

std::vector<std::string> Pool::idsInDomain(std::string_view domainUuid) const {
  // An id starts with its domain's UUID (vocabulary::imageIdOf), so a domain's images are
  // neighbours in the map: an Allocate does not walk the whole pool.
  std::string prefix = vocabulary::imageIdOf(domainUuid, "");
  std::vector<std::string> ids;
  for (auto it = entries_.lower_bound(prefix);
       it != entries_.end() && it->first.starts_with(prefix); ++it) {
    if (it->second.record.domainUuid == domainUuid) ids.push_back(it->first);
  }
  return ids;
}

Result<PoolEntry> Pool::remove(std::string_view id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return Status(ErrorCode::kNotFound, "no image '" + std::string(id) + "'");
  }
  const ImageRecord& r = it->second.record;
  UniqueFd dir = domainDir(r.domainUuid);
  if (!dir) return errnoStatus("cannot open the directory of " + r.id, errno);
  std::string record = recordFileName(r.target);
  std::string away = record + ".tmp-release";
  std::string image = vocabulary::imageFileName(r.target, r.spec.format);
  if (renameat(dir.get(), record.c_str(), dir.get(), away.c_str()) != 0 && errno != ENOENT) {
    return errnoStatus("cannot release " + r.id + ": rename its record", errno);
  }
  auto parked = deleter_ ? park(dir.get(), image) : std::nullopt;
  if (!parked && unlinkat(dir.get(), image.c_str(), 0) != 0 && errno != ENOENT) {
    Status status = errnoStatus("cannot release " + r.id + ": delete " + r.path, errno);
    // Put the record back so that the pool still describes the image it holds.
    renameat(dir.get(), away.c_str(), dir.get(), record.c_str());
    return status;
  }
  unlinkat(dir.get(), away.c_str(), 0);
  if (fsync(dir.get()) != 0) {
    logLine(LogLevel::kWarning, "fsync of " + path_ + "/" + r.domainUuid + " failed");
  }
  if (parked) {
    parked_ += parked->second;
    deleter_(std::move(parked->first), parked->second);
  }
  return forget(id);
}

std::optional<std::pair<std::string, uint64_t>> Pool::park(int dir, const std::string& image) {
  if (!releasedFd_) {
    if (mkdirat(fd_.get(), kReleasedDirName, 0700) != 0 && errno != EEXIST) return std::nullopt;
    releasedFd_.reset(openat(fd_.get(), kReleasedDirName, kDirFlags));
    if (!releasedFd_) return std::nullopt;
  }
  struct stat st;
  if (fstatat(dir, image.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    return std::nullopt;
  }
  // A name of its own: in a shared pool the other hosts park theirs here too.
  std::string name = randomSuffix() + "." + image;
  if (renameat2(dir, image.c_str(), releasedFd_.get(), name.c_str(), RENAME_NOREPLACE) != 0) {
    return std::nullopt;
  }
  return std::make_pair(std::move(name), static_cast<uint64_t>(st.st_blocks) * 512);
}

Status Pool::holdOwnerLock(PoolEntry& entry) {
  const ImageRecord& r = entry.record;
  UniqueFd dir = domainDir(r.domainUuid);
  if (!dir) return errnoStatus("cannot open the directory of " + r.id, errno);
  VS_ASSIGN_OR_RETURN(
      UniqueFd held,
      lockImage(dir.get(), vocabulary::imageFileName(r.target, r.spec.format), "'" + r.path + "'"));
  entry.ownerLock = std::make_shared<UniqueFd>(std::move(held));
  return {};
}

Result<PoolEntry> Pool::forget(std::string_view id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    return Status(ErrorCode::kNotFound, "no image '" + std::string(id) + "'");
  }
  PoolEntry entry = std::move(it->second);
  entries_.erase(it);
  used_ -= entry.record.spec.size;
  allocated_ -= entry.allocated;
  return entry;
}

Result<uint64_t> Pool::availableBytes() const {
  struct statvfs st;
  if (fstatvfs(fd_.get(), &st) != 0) return errnoStatus("statvfs '" + path_ + "'", errno);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize + parked_;
}

Result<uint64_t> Pool::totalBytes() const {
  struct statvfs st;
  if (fstatvfs(fd_.get(), &st) != 0) return errnoStatus("statvfs '" + path_ + "'", errno);
  return static_cast<uint64_t>(st.f_blocks) * st.f_frsize;
}

uint64_t Pool::allocatedBytes(const ImageRecord& record) const {
  // The domain's directory is opened first: AT_SYMLINK_NOFOLLOW covers only the last name, and
  // a directory swapped for a symlink would report a file outside the pool.
  UniqueFd dir = domainDir(record.domainUuid);
  if (!dir) return 0;
  std::string file = vocabulary::imageFileName(record.target, record.spec.format);
  struct stat st;
  if (fstatat(dir.get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    return 0;
  }
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace virtscratch::daemon
