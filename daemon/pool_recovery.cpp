#include "daemon/pool_recovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>

#include "base/unique_fd.h"
#include "daemon/content_staging.h"
#include "daemon/file_modes.h"
#include "daemon/image_record.h"
#include "daemon/pool.h"
#include "daemon/shared_pool.h"
#include "image/content_copy.h"
#include "vocabulary/domain_uuid.h"
#include "vocabulary/pool_layout.h"
#include "vocabulary/target.h"

namespace virtscratch::daemon {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string typeOf(const struct stat& st) {
  if (S_ISLNK(st.st_mode)) return "symlink";
  if (S_ISDIR(st.st_mode)) return "directory";
  if (S_ISREG(st.st_mode)) return "file";
  return "special file";
}

std::string plural(int n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Splits "<target>.<suffix>" with a valid target; empty target otherwise.
std::pair<std::string, std::string> splitName(const std::string& name) {
  size_t dot = name.find('.');
  if (dot == std::string::npos) return {};
  std::string target = name.substr(0, dot);
  if (!vocabulary::validateTarget(target).ok()) return {};
  return {target, name.substr(dot + 1)};
}

class DomainWalk {
 public:
  DomainWalk(int dirFd, std::string uuid, const PoolOwner& owner, Recovery& out)
      : dir_(dirFd), uuid_(std::move(uuid)), owner_(owner), out_(out) {}

  Status run() {
    VS_ASSIGN_OR_RETURN(std::vector<std::string> names, listDirectory(dir_));
    for (const std::string& name : names) classify(name);
    for (const auto& [target, name] : records_) adopt(target, name);
    // An adoption this host began, and whose image is gone or is this host's now, is over.
    for (const std::string& target : markers_) {
      if (adopted_.count(target) == 0) removeAdoptMarker(dir_, target, owner_.host);
    }
    for (const auto& [target, files] : images_) {
      for (const std::string& file : files) {
        if (foreign_.count(target) != 0) continue;
        if (unreadable_.count(target) != 0) {
          out_.leftAlone.push_back("'" + uuid_ + "/" + file + "' (its record is unreadable)");
        } else if (owner_.shared) {
          out_.leftAlone.push_back("'" + uuid_ + "/" + file +
                                   "' (no record: in a shared pool, maybe another host's "
                                   "allocation in progress)");
        } else if (remove(file)) {
          ++out_.halfMadeImages;
        }
      }
    }
    return {};
  }

 private:
  void classify(const std::string& name) {
    struct stat st;
    if (fstatat(dir_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    std::string shown = "'" + uuid_ + "/" + name + "'";
    if (!S_ISREG(st.st_mode)) {
      out_.leftAlone.push_back(shown + " (" + typeOf(st) + ")");
      return;
    }
    if (isTemporaryName(name)) {
      if (owner_.shared) {
        out_.leftAlone.push_back(shown + " (temporary: in a shared pool, maybe another host's)");
      } else if (remove(name)) {
        ++out_.temporaryFiles;
      }
      return;
    }
    auto [target, suffix] = splitName(name);
    if (!target.empty() && suffix == "adopt" && owner_.shared) {
      markers_.insert(target);
    } else if (!target.empty() && suffix == "record") {
      records_[target] = name;
    } else if (!target.empty() && image::parseImageFormat(suffix).ok()) {
      images_[target].insert(name);
    } else {
      out_.leftAlone.push_back(shown + " (not a pool file)");
    }
  }

  void adopt(const std::string& target, const std::string& name) {
    std::string where = uuid_ + "/" + name;
    auto stored = readRecordAt(dir_, name, where);
    if (!stored.ok()) {
      unreadable_.insert(target);
      out_.leftAlone.push_back("'" + where + "' (" + stored.status().message() + ")");
      return;
    }
    const ImageRecord& r = stored->record;
    std::string adopter = markers_.count(target) != 0 ? adoptMarkerHost(dir_, target) : "";
    if (owner_.shared && !r.host.empty() && r.host != owner_.host) {
      foreign_.insert(target);
      auto files = images_.find(target);
      if (adopter == owner_.host && files != images_.end() &&
          files->second.count(vocabulary::imageFileName(target, r.spec.format)) != 0) {
        // This host was adopting it when it stopped: it goes on once the domain runs here.
        adopted_.insert(target);
        stored->record.incoming = true;
        stored->record.adopting = true;
        out_.images.push_back(std::move(*stored));
      } else {
        ++out_.otherHosts;
      }
      return;
    }
    if (owner_.shared && !adopter.empty() && adopter != owner_.host) {
      foreign_.insert(target);
      out_.leftAlone.push_back("'" + where + "' (being adopted by host " + adopter + ")");
      return;
    }
    if (r.domainUuid != uuid_ || r.target != target) {
      unreadable_.insert(target);
      out_.leftAlone.push_back("'" + where + "' (it describes " + r.domainUuid + "/" + r.target +
                               ")");
      return;
    }
    auto files = images_.find(target);
    std::string image = vocabulary::imageFileName(target, r.spec.format);
    if (files == images_.end() || files->second.erase(image) == 0) {
      if (remove(name)) ++out_.orphanRecords;
      if (r.spec.encryption == image::Encryption::kLuks)
        out_.orphanKeys.emplace_back(uuid_, target);
      return;
    }
    tighten(name);
    tighten(image);
    out_.images.push_back(std::move(*stored));
  }

  void tighten(const std::string& name) {
    auto done = tightenMode(dir_, name, kPrivateFileMode, uuid_ + "/" + name);
    if (done) out_.tightened.push_back(std::move(*done));
  }

  bool remove(const std::string& name) {
    if (unlinkat(dir_, name.c_str(), 0) == 0) return true;
    out_.leftAlone.push_back("'" + uuid_ + "/" + name +
                             "' (cannot delete: " + std::strerror(errno) + ")");
    return false;
  }

  int dir_;
  std::string uuid_;
  const PoolOwner& owner_;
  Recovery& out_;
  std::map<std::string, std::string> records_;           // target -> record file
  std::map<std::string, std::set<std::string>> images_;  // target -> image files
  std::set<std::string> unreadable_;                     // targets whose files stay
  std::set<std::string> foreign_;                        // targets other hosts own
  std::set<std::string> markers_;                        // targets with an adoption marker
  std::set<std::string> adopted_;                        // targets this host was adopting
};

}  // namespace

bool isTemporaryName(std::string_view name) {
  return name.starts_with(".virt-scratch-tmp-") || name.find(".record.tmp") != std::string::npos;
}

Result<std::vector<std::string>> listDirectory(int dirFd) {
  UniqueFd copy(openat(dirFd, ".", kDirFlags));
  if (!copy) return errnoStatus("open directory", errno);
  DIR* raw = fdopendir(copy.get());
  if (raw == nullptr) return errnoStatus("read directory", errno);
  copy.release();
  std::unique_ptr<DIR, int (*)(DIR*)> dir(raw, closedir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(dir.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  if (errno != 0) return errnoStatus("read directory", errno);
  return names;
}

Result<Recovery> recoverPool(int poolFd, const std::string& poolPath, const PoolOwner& owner) {
  Recovery out;
  VS_ASSIGN_OR_RETURN(std::vector<std::string> names, listDirectory(poolFd));
  for (const std::string& name : names) {
    if (name == ".templates" || (owner.shared && isTemplatesDirName(name))) continue;
    if (name == kStagingDirName && owner.shared) {
      out.leftAlone.push_back("'" + name + "' (in a shared pool, other hosts may stage content)");
      continue;
    }
    if (name == kStagingDirName) {  // content copies of allocations that died
      if (image::removeTree(poolFd, name).ok()) ++out.temporaryFiles;
      continue;
    }
    if (name == kReleasedDirName) {  // released images a crash left before they were deleted
      // Its entries only: in a shared pool other hosts park files in it at any time.
      UniqueFd released(openat(poolFd, name.c_str(), kDirFlags));
      if (!released) continue;
      auto parked = listDirectory(released.get());
      if (!parked.ok()) continue;
      for (const std::string& file : *parked) {
        if (unlinkat(released.get(), file.c_str(), 0) == 0) ++out.temporaryFiles;
      }
      continue;
    }
    struct stat st;
    if (fstatat(poolFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISREG(st.st_mode) && isTemporaryName(name) && !owner.shared) {
      if (unlinkat(poolFd, name.c_str(), 0) == 0) ++out.temporaryFiles;
      continue;
    }
    if (!S_ISDIR(st.st_mode) || !vocabulary::isNormalisedUuid(name)) {
      out.leftAlone.push_back("'" + name + "' (" +
                              (S_ISDIR(st.st_mode) ? "not a domain UUID" : typeOf(st)) + ")");
      continue;
    }
    UniqueFd dir(openat(poolFd, name.c_str(), kDirFlags));
    if (!dir) {
      out.leftAlone.push_back("'" + name + "' (cannot open: " + std::strerror(errno) + ")");
      continue;
    }
    Status walked = DomainWalk(dir.get(), name, owner, out).run();
    if (!walked.ok()) return walked.withContext("recovering '" + poolPath + "/" + name + "'");
    dir.reset();
    // In a shared pool another host may be about to make an image in an empty directory.
    if (!owner.shared && unlinkat(poolFd, name.c_str(), AT_REMOVEDIR) == 0) {
      ++out.emptyDirectories;
    } else if (auto done = tightenMode(poolFd, name, kDomainDirMode, name)) {
      out.tightened.push_back(std::move(*done));
    }
  }
  fsync(poolFd);
  return out;
}

std::string Recovery::summary() const {
  std::vector<std::string> cleaned;
  if (temporaryFiles > 0) {
    cleaned.push_back(plural(temporaryFiles, "temporary file", "temporary files"));
  }
  if (halfMadeImages > 0) {
    cleaned.push_back(plural(halfMadeImages, "half-made image", "half-made images"));
  }
  if (orphanRecords > 0) {
    cleaned.push_back(plural(orphanRecords, "record without image", "records without image"));
  }
  if (emptyDirectories > 0) {
    cleaned.push_back(plural(emptyDirectories, "empty directory", "empty directories"));
  }
  std::string line = "cleaned ";
  if (cleaned.empty()) line += "nothing";
  for (size_t i = 0; i < cleaned.size(); ++i) line += (i == 0 ? "" : ", ") + cleaned[i];
  if (otherHosts > 0) {
    line += "; " + plural(otherHosts, "image", "images") + " of other hosts (a shared pool)";
  }
  if (!leftAlone.empty()) {
    line += "; left alone: ";
    for (size_t i = 0; i < leftAlone.size(); ++i) line += (i == 0 ? "" : ", ") + leftAlone[i];
  }
  if (!tightened.empty()) {
    line += "; modes tightened: ";
    for (size_t i = 0; i < tightened.size(); ++i) line += (i == 0 ? "" : ", ") + tightened[i];
  }
  return line;
}

}  // namespace virtscratch::daemon
