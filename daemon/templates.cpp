#include "daemon/templates.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon/file_modes.h"
#include "daemon/log.h"
#include "daemon/pool_recovery.h"
#include "daemon/template_files.h"
#include "image/size.h"

namespace virtscratch::daemon {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string hex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

}  // namespace

Result<std::string> TemplateCache::open(int poolFd, const std::string& poolPath,
                                        const std::set<std::string>& referenced,
                                        const std::string& dirName) {
  dirName_ = dirName;
  dirPath_ = poolPath + "/" + dirName;
  // Private until it is known whether a template may back an overlay (below).
  bool created = mkdirat(poolFd, dirName.c_str(), kPrivateDirMode) == 0;
  if (!created && errno != EEXIST) {
    return errnoStatus("cannot create '" + dirPath_ + "'", errno);
  }
  dir_.reset(openat(poolFd, dirName.c_str(), kDirFlags));
  if (!dir_) {
    mode_ = TemplateMode::kOff;
    return "templates off: '" + dirPath_ + "' is not a directory (" + std::strerror(errno) + ")";
  }
  VS_ASSIGN_OR_RETURN(TemplateScan scan, scanTemplates(dir_.get(), referenced));
  // Least recently used first, by the time their files were last changed.
  std::vector<std::pair<int64_t, std::string>> byAge;
  for (TemplateCache::Entry& entry : scan.entries) {
    struct stat st {};
    fstatat(dir_.get(), fileName(entry).c_str(), &st, AT_SYMLINK_NOFOLLOW);
    byAge.emplace_back(st.st_mtim.tv_sec, entry.name);
    entry.generation = ++tick_;
    entries_[entry.name] = std::move(entry);
  }
  std::sort(byAge.begin(), byAge.end());
  for (const auto& [mtime, name] : byAge) entries_[name].lastUse = ++tick_;
  if (mode_ == TemplateMode::kOff) {
    for (auto it = entries_.begin(); it != entries_.end();) {
      auto next = std::next(it);
      if (referenced.count(it->first) == 0) {
        scan.deleted += 1 + static_cast<int>(it->second.spares.size());
        remove(it->second);
      }
      it = next;
    }
  }
  reflinks_ = canReflink(dir_.get());
  VS_ASSIGN_OR_RETURN(std::vector<std::string> tightened, setModes(!referenced.empty()));

  size_t spares = 0;
  for (const auto& [name, entry] : entries_) spares += entry.spares.size();
  std::string mode = mode_ == TemplateMode::kOff       ? "off"
                     : reflinks_                       ? "reflink"
                     : mode_ == TemplateMode::kOverlay ? "qcow2 overlay (no reflink here)"
                                                       : "data copy (no reflink here)";
  std::string phrase = "templates: " + mode + ", " + std::to_string(entries_.size()) +
                       " kept with " + std::to_string(spares) + " spares (" +
                       image::formatSize(bytes()) + ")";
  if (scan.deleted > 0) phrase += ", " + std::to_string(scan.deleted) + " stale files deleted";
  for (const std::string& l : scan.leftAlone) phrase += ", left alone " + l;
  for (const std::string& t : tightened) phrase += ", mode tightened " + t;
  return phrase;
}

Result<std::vector<std::string>> TemplateCache::setModes(bool backsOverlays) {
  // 0711 only where QEMU, running as the qemu user, must open a template that backs an overlay
  // (the file itself it reaches through libvirt's DAC labelling); else nobody but root enters.
  bool overlays = backsOverlays || (mode_ == TemplateMode::kOverlay && !reflinks_);
  mode_t dirMode = overlays ? kDomainDirMode : kPrivateDirMode;
  struct stat st;
  if (fstat(dir_.get(), &st) != 0) return errnoStatus("cannot stat '" + dirPath_ + "'", errno);
  std::vector<std::string> changed;
  if ((st.st_mode & 07777) != dirMode) {
    if (fchmod(dir_.get(), dirMode) != 0) {
      return errnoStatus("cannot set the mode of '" + dirPath_ + "'", errno);
    }
    char modes[32];
    std::snprintf(modes, sizeof modes, " %04o -> %04o", static_cast<unsigned>(st.st_mode & 07777),
                  static_cast<unsigned>(dirMode));
    changed.push_back("'" + dirName_ + "'" + std::string(modes));
  }
  VS_ASSIGN_OR_RETURN(std::vector<std::string> names, listDirectory(dir_.get()));
  for (const std::string& name : names) {
    if (fstatat(dir_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    auto done = tightenMode(dir_.get(), name, kPrivateFileMode, dirName_ + "/" + name);
    if (done) changed.push_back(std::move(*done));
  }
  return changed;
}

std::optional<std::string> TemplateCache::keyOf(const image::ImageSpec& spec) const {
  if (mode_ == TemplateMode::kOff || !dir_) return std::nullopt;
  if (spec.filesystem == image::Filesystem::kNone || !spec.contentDir.empty() ||
      spec.preallocation != image::Preallocation::kOff) {
    return std::nullopt;
  }
  // Keys of unencrypted specs are as they were before encryption existed: their templates stay.
  return "v1;format=" + std::string(toString(spec.format)) + ";size=" + std::to_string(spec.size) +
         ";filesystem=" + std::string(toString(spec.filesystem)) +
         ";partition=" + std::string(toString(spec.partition)) + ";label=" + hex(spec.label) +
         (spec.encryption == image::Encryption::kLuks ? ";encryption=luks" : "");
}

bool TemplateCache::encryptedKey(const std::string& key) {
  return key.ends_with(";encryption=luks");
}

bool TemplateCache::rawLuksKey(const std::string& key) {
  return encryptedKey(key) && key.starts_with("v1;format=raw;");
}

image::ImageFormat TemplateCache::spareFormat(const Entry& entry) {
  if (!entry.encrypted) return entry.format;
  return rawLuksKey(entry.key) ? image::ImageFormat::kRaw : image::ImageFormat::kQcow2;
}

image::ImageSpec TemplateCache::templateSpecOf(image::ImageSpec spec) {
  if (spec.encryption == image::Encryption::kLuks) {
    spec.format = image::ImageFormat::kRaw;
    spec.encryption = image::Encryption::kNone;
  }
  spec.uuid.clear();
  return spec;
}

bool TemplateCache::overlayFor(const Entry& entry) const {
  return mode_ == TemplateMode::kOverlay && !reflinks_ &&
         entry.format == image::ImageFormat::kQcow2;
}

TemplateCache::Entry* TemplateCache::find(const std::string& key) {
  Entry* entry = byName(templateNameOf(key));
  return entry != nullptr && entry->key == key ? entry : nullptr;
}

TemplateCache::Entry* TemplateCache::byName(const std::string& name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

TemplateCache::Entry* TemplateCache::add(const std::string& key, const image::ImageSpec& spec) {
  std::string name = templateNameOf(key);
  if (entries_.count(name) != 0) return nullptr;
  Entry& entry = entries_[name];
  entry.name = name;
  entry.key = key;
  entry.format = spec.format;
  entry.filesystem = spec.filesystem;
  entry.encrypted = encryptedKey(key);
  entry.lastUse = ++tick_;
  entry.generation = ++tick_;
  return &entry;
}

void TemplateCache::built(const std::string& name, uint64_t allocated) {
  if (Entry* entry = byName(name)) {
    entry->ready = true;
    entry->allocated = allocated;
  }
}

void TemplateCache::discard(const std::string& name) { entries_.erase(name); }

TemplateRef TemplateCache::use(const std::string& name) {
  Entry* entry = byName(name);
  if (entry == nullptr) return nullptr;
  entry->lastUse = ++tick_;
  if (TemplateRef ref = entry->uses.lock()) return ref;
  auto ref = std::make_shared<const TemplateUse>(TemplateUse{name});
  entry->uses = ref;
  return ref;
}

std::optional<TemplateCache::Spare> TemplateCache::takeSpare(const std::string& name) {
  Entry* entry = byName(name);
  if (entry == nullptr || entry->spares.empty()) return std::nullopt;
  Spare spare = std::move(entry->spares.back());
  entry->spares.pop_back();
  return spare;
}

void TemplateCache::noteDemand(Entry& entry, std::chrono::steady_clock::time_point now) const {
  entry.demand.push_back(now);
  while (!entry.demand.empty() && now - entry.demand.front() > kDemandWindow) {
    entry.demand.pop_front();
  }
  while (entry.demand.size() > kMaxSpares) entry.demand.pop_front();
}

unsigned TemplateCache::spareTarget(const Entry& entry) const {
  return std::clamp(static_cast<unsigned>(entry.demand.size()), kSpares, kMaxSpares);
}

unsigned TemplateCache::spareDeficit(Entry& entry) const {
  if (!entry.ready || entry.key.empty() || mode_ == TemplateMode::kOff) return 0;
  size_t have = entry.spares.size() + entry.sparesBuilding;
  unsigned target = spareTarget(entry);
  unsigned deficit = have >= target ? 0 : target - static_cast<unsigned>(have);
  entry.sparesBuilding += deficit;
  return deficit;
}

void TemplateCache::spareBuilt(const std::string& name, uint64_t generation,
                               const Result<Spare>& spare) {
  Entry* entry = byName(name);
  bool current = entry != nullptr && entry->generation == generation;
  if (current && entry->sparesBuilding > 0) --entry->sparesBuilding;
  if (!spare.ok()) {
    if (spare.status().code() == ErrorCode::kCancelled) return;
    logLine(LogLevel::kWarning,
            "a spare of template " + name + " could not be made: " + spare.status().message());
    return;
  }
  if (current) {
    entry->spares.push_back(*spare);
  } else {
    unlinkat(dir_.get(), spare->file.c_str(), 0);
  }
}

std::string TemplateCache::spareFileName(const Entry& entry, const std::string& uuid) const {
  return entry.name + ".spare-" + uuid + "." + std::string(toString(spareFormat(entry)));
}

std::vector<std::string> TemplateCache::evict() {
  std::vector<std::string> evicted;
  for (;;) {
    bool over = budget_ != 0 && bytes() > budget_;
    Entry* victim = nullptr;
    Entry* spareVictim = nullptr;
    for (auto& [name, entry] : entries_) {
      if (over && !entry.spares.empty() &&
          (spareVictim == nullptr || entry.lastUse < spareVictim->lastUse)) {
        spareVictim = &entry;
      }
      if (!entry.ready || !entry.uses.expired() || entry.sparesBuilding > 0) continue;
      if (entry.key.empty()) {  // kept only for overlays, and none is left
        victim = &entry;
        break;
      }
      if (over && (victim == nullptr || entry.lastUse < victim->lastUse)) victim = &entry;
    }
    if (spareVictim != nullptr && (victim == nullptr || !victim->key.empty())) {
      dropSpare(*spareVictim);
      continue;
    }
    if (victim == nullptr) return evicted;
    evicted.push_back(victim->name);
    remove(*victim);
  }
}

void TemplateCache::dropSpare(Entry& entry) {
  unlinkat(dir_.get(), entry.spares.back().file.c_str(), 0);
  entry.spares.pop_back();
}

void TemplateCache::remove(const Entry& entry) {
  for (const Spare& spare : entry.spares) unlinkat(dir_.get(), spare.file.c_str(), 0);
  unlinkat(dir_.get(), descriptionFileName(entry.name).c_str(), 0);
  unlinkat(dir_.get(), fileName(entry).c_str(), 0);
  entries_.erase(entry.name);
}

std::string TemplateCache::fileName(const Entry& entry) const {
  return entry.name + "." + std::string(toString(entry.format));
}

std::string TemplateCache::filePath(const Entry& entry) const {
  return dirPath_ + "/" + fileName(entry);
}

uint64_t TemplateCache::bytes() const {
  uint64_t total = 0;
  for (const auto& [name, entry] : entries_) {
    total += entry.allocated;
    for (const Spare& spare : entry.spares) total += spare.allocated;
  }
  return total;
}

}  // namespace virtscratch::daemon
