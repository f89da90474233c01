// The warm path's cache: formatted images kept per spec in <pool>/.templates/, so that every
// allocation of a spec after the first is a clone (reflink, data copy or qcow2 overlay, each with
// its own filesystem UUID) and never runs mkfs. A template is keyed by everything in the spec but
// the filesystem UUID; specs with content, with preallocation or without a filesystem are not
// cached (content is not fingerprinted; preallocation is lost in a clone; no filesystem means no
// mkfs to save).
//
// Each template also keeps spares: clones made ahead of time with random UUIDs, so that an
// allocation that asks for no particular UUID only renames a spare into place and its latency
// does not grow with the size of the image. Spares are made again in the background after one is
// taken, as many as the template was asked for in the last minute (at least kSpares, at most
// kMaxSpares): a fleet that starts VMs in bursts finds the next burst's spares ready.
//
// Templates and spares are not images: not counted in the quota, not listed; their host bytes
// count in the free-space check (statvfs, and the Allocator's room for those being built) and are
// reported as PoolTemplateBytes. Above the budget
// (allocated bytes; 0: no limit) spares go first, then unused templates, least recently used
// first; a template an overlay is backed by, or one being cloned, is never evicted.
// Loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/config.h"
#include "daemon/template_ref.h"
#include "image/spec.h"

namespace virtscratch::daemon {

class TemplateCache {
 public:
  static constexpr unsigned kSpares = 2;
  static constexpr unsigned kMaxSpares = 16;
  static constexpr std::chrono::seconds kDemandWindow{60};

  struct Spare {
    std::string file;  // <name>.spare-<filesystem uuid>.<format>, in the templates directory
    std::string uuid;  // its filesystem UUID
    uint64_t allocated = 0;
    // An encrypted template's spare: the key of its only key slot, in memory only (a spare found
    // on disk after a restart has lost it and is deleted).
    std::string passphrase;
  };

  struct Entry {
    std::string name;  // 16 hex digits: files <name>.<format> and <name>.template
    std::string key;   // empty for a template kept only because overlays use it
    image::ImageFormat format = image::ImageFormat::kQcow2;
    image::Filesystem filesystem = image::Filesystem::kNone;
    // The key asks for encryption: the template is the spec's plaintext as a raw file (private to
    // the daemon), and its spares are images of the spec's format (qcow2 or raw LUKS) encrypted
    // each under its own key. Allocations take only spares, never a clone of the template.
    bool encrypted = false;
    bool ready = false;  // built; false while a worker builds it
    // Overlays backed by it and clones in progress hold TemplateRefs; expired: unused.
    std::weak_ptr<const TemplateUse> uses;
    uint64_t allocated = 0;   // host bytes of the template file and its description
    uint64_t lastUse = 0;     // larger is more recent
    uint64_t generation = 0;  // tells a rebuilt template from the one a late spare came from
    std::vector<Spare> spares;
    unsigned sparesBuilding = 0;
    std::deque<std::chrono::steady_clock::time_point> demand;  // allocations, last kDemandWindow
  };

  TemplateCache(TemplateMode mode, uint64_t budget) : mode_(mode), budget_(budget) {}

  // Makes and opens <pool>/<dirName> (shared_pool.h's templatesDirName), keeps the templates (and
  // their spares) whose description matches and those in `referenced` (overlays depend on them),
  // deletes the rest, and finds out whether the filesystem can reflink. Returns a phrase for the
  // start report.
  Result<std::string> open(int poolFd, const std::string& poolPath,
                           const std::set<std::string>& referenced,
                           const std::string& dirName = ".templates");

  // The cache key of `spec`, or nothing when the spec is not cached (see above) or mode is off.
  std::optional<std::string> keyOf(const image::ImageSpec& spec) const;
  // Whether `key` is the key of an encrypted spec.
  static bool encryptedKey(const std::string& key);
  // Whether `key` is the key of a raw spec with encryption: its template is made for raw LUKS
  // (image::CreateOptions::writeZeros).
  static bool rawLuksKey(const std::string& key);
  // The format of the entry's spares: the template's, or for an encrypted key the spec's.
  static image::ImageFormat spareFormat(const Entry& entry);
  // What the template of `spec` is made of: the spec itself, or for an encrypted spec its
  // plaintext as a raw image.
  static image::ImageSpec templateSpecOf(image::ImageSpec spec);
  // Whether clones of this template are qcow2 overlays (mode overlay, qcow2, and no reflink).
  bool overlayFor(const Entry& entry) const;

  Entry* find(const std::string& key);
  Entry* byName(const std::string& name);
  // A new entry, not ready, for a worker to build; nullptr if another key has its name.
  Entry* add(const std::string& key, const image::ImageSpec& spec);
  void built(const std::string& name, uint64_t allocated);
  void discard(const std::string& name);  // a build that failed: forget it
  // A use of the template (see template_ref.h), and marks it used now; null when there is no
  // such template.
  TemplateRef use(const std::string& name);

  // A ready spare of the template, taken out of the cache (the caller renames its file).
  std::optional<Spare> takeSpare(const std::string& name);
  // An allocation asks for the template now: counts toward how many spares it keeps.
  void noteDemand(Entry& entry, std::chrono::steady_clock::time_point now =
                                    std::chrono::steady_clock::now()) const;
  // How many spares the template keeps: its demand in the last kDemandWindow, within
  // [kSpares, kMaxSpares].
  unsigned spareTarget(const Entry& entry) const;
  // How many spares the caller should build now for `entry`; counted as building.
  unsigned spareDeficit(Entry& entry) const;
  // A spare build has ended; a spare of a template since evicted or rebuilt is deleted.
  void spareBuilt(const std::string& name, uint64_t generation, const Result<Spare>& spare);
  std::string spareFileName(const Entry& entry, const std::string& uuid) const;

  // Deletes spares, then unused templates, least recently used first, until the budget holds.
  // Returns the names of the templates deleted.
  std::vector<std::string> evict();

  int dirFd() const { return dir_.get(); }
  std::string fileName(const Entry& entry) const;
  std::string filePath(const Entry& entry) const;  // absolute: overlays refer to it
  uint64_t bytes() const;
  size_t count() const { return entries_.size(); }
  bool reflinks() const { return reflinks_; }

 private:
  // The directory's mode (0700, or 0711 when a template may back an overlay) and its files'
  // (file_modes.h), set at open; what changed, for the log.
  Result<std::vector<std::string>> setModes(bool backsOverlays);
  void remove(const Entry& entry);
  void dropSpare(Entry& entry);

  TemplateMode mode_;
  uint64_t budget_;
  std::string dirName_ = ".templates";
  std::string dirPath_;
  UniqueFd dir_;
  bool reflinks_ = false;
  uint64_t tick_ = 0;
  std::map<std::string, Entry> entries_;  // by name
};

}  // namespace virtscratch::daemon
