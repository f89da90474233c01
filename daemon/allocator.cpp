#include "daemon/allocator.h"

#include <utility>

#include "daemon/log.h"
#include "daemon/template_files.h"
#include "image/filesystem_uuid.h"
#include "vocabulary/disk_secret.h"

namespace virtscratch::daemon {

namespace {

Status cancelledByCaller() {
  return {ErrorCode::kCancelled, "every caller that asked for it left the bus before it was made"};
}

}  // namespace

void Allocator::start(AllocationPlan plan, Done done, std::string caller) {
  std::string id = plan.id;
  bool created = false;
  auto dir = ctx_.pool.openDomainDir(plan.domain.uuid, &created);
  if (!dir.ok()) {
    ctx_.post([done = std::move(done), status = dir.status()] { done(status); });
    return;
  }
  Pending& p = pending_[id];
  p.plan = std::move(plan);
  p.domainDir = std::make_shared<UniqueFd>(std::move(*dir));
  p.done.push_back(std::move(done));
  p.callers.push_back(std::move(caller));
  // Announced on the bus only when the allocation is more than a spare's rename (see submit).
  p.job = ctx_.jobs.add("allocate", false);
  dispatch(id);
}

void Allocator::join(std::string_view id, Done done, std::string caller) {
  auto it = pending_.find(std::string(id));
  if (it == pending_.end()) return;
  if (it->second.cancelled) {
    ctx_.post([done = std::move(done), id = std::string(id)] {
      done(Status(ErrorCode::kBusy, "image " + id + " is being cancelled; try again shortly"));
    });
    return;
  }
  it->second.done.push_back(std::move(done));
  it->second.callers.push_back(std::move(caller));
}

void Allocator::callerGone(const std::string& caller) {
  if (caller.empty()) return;
  for (auto& [id, p] : pending_) {
    if (p.cancelled) continue;
    std::erase(p.callers, caller);
    if (!p.callers.empty()) continue;
    p.cancelled = true;
    p.job->cancel();
    logLine(LogLevel::kNotice, "the allocation of " + id + " is cancelled: " + caller +
                                   ", which asked for it, left the bus (a hook that gave up?)");
  }
}

bool Allocator::domainInFlight(std::string_view domainUuid) const {
  for (const auto& [id, p] : pending_) {
    if (p.plan.domain.uuid == domainUuid) return true;
  }
  return false;
}

size_t Allocator::inFlightInDomain(std::string_view domainUuid) const {
  size_t count = 0;
  for (const auto& [id, p] : pending_) count += p.plan.domain.uuid == domainUuid;
  return count;
}

bool Allocator::roomFor(uint64_t bytes) const {
  auto available = ctx_.pool.availableBytes();
  if (!available.ok()) return false;
  uint64_t reserve = ctx_.config.poolReserve;
  uint64_t usable = *available > reserve ? *available - reserve : 0;
  uint64_t inFlight = pendingAllocation() + backgroundBytes_;
  return inFlight <= usable && bytes <= usable - inFlight;
}

uint64_t Allocator::pendingSize() const {
  uint64_t total = 0;
  for (const auto& [id, p] : pending_) total += p.plan.spec.size;
  return total;
}

uint64_t Allocator::pendingAllocation() const {
  uint64_t total = 0;
  for (const auto& [id, p] : pending_) total += p.plan.expectedAllocation;
  return total;
}

void Allocator::dispatch(const std::string& id) {
  Pending& p = pending_.at(id);
  // Content is in the plan, no longer in its spec (the plan opened it): never templated, since a
  // template holds an empty filesystem.
  auto key = p.plan.content || p.plan.incoming ? std::nullopt : ctx_.templates.keyOf(p.plan.spec);
  if (!key) return submit(id, nullptr);
  TemplateCache::Entry* entry = ctx_.templates.find(*key);
  if (entry == nullptr) {
    // The template is made besides the image: only when both fit above the reserve.
    uint64_t cost = expectedAllocation(p.plan.spec);
    if (!roomFor(cost)) return submit(id, nullptr);
    image::ImageSpec templateSpec = TemplateCache::templateSpecOf(p.plan.spec);
    entry = ctx_.templates.add(*key, templateSpec);
    if (entry == nullptr) return submit(id, nullptr);  // its name is another key's
    std::string name = entry->name;
    templateWaiters_[name].push_back(id);
    ctx_.jobs.announce(p.job->id());
    backgroundBytes_ += cost;
    const ServiceContext& ctx = ctx_;
    // Its allocations wait for it: it is VM-start work.
    Submitted queued = ctx_.workers.submit(
        Lane::kVmStart, [this, &ctx, name, cost, key = *key, spec = templateSpec] {
          auto built = buildTemplate(ctx.engine, ctx.templates.dirFd(), name, key, spec,
                                     ctx.config.maxImageSize);
          ctx.post([this, name, cost, built] {
            backgroundBytes_ -= cost;
            templateBuilt(name, built);
          });
        });
    if (queued != Submitted::kQueued) {
      ctx_.post([this, name, cost, status = notQueued(queued, ctx_.workers.queueLimit())] {
        backgroundBytes_ -= cost;
        templateBuilt(name, status);
      });
    }
    return;
  }
  if (!entry->ready) {
    templateWaiters_[entry->name].push_back(id);
    ctx_.jobs.announce(p.job->id());
    return;
  }
  ctx_.templates.noteDemand(*entry);
  if (entry->encrypted) return takeEncryptedSpare(id, *entry);
  p.templateUse = ctx_.templates.use(entry->name);
  auto source = std::make_unique<TemplateSource>();
  source->name = entry->name;
  source->dirFd = ctx_.templates.dirFd();
  source->fileName = ctx_.templates.fileName(*entry);
  source->path = ctx_.templates.filePath(*entry);
  source->format = entry->format;
  source->overlay = ctx_.templates.overlayFor(*entry);
  if (p.plan.spec.uuid.empty()) {
    if (auto spare = ctx_.templates.takeSpare(entry->name)) {
      source->spareFile = spare->file;
      source->spareUuid = spare->uuid;
    }
  }
  std::string name = entry->name;
  submit(id, std::move(source));
  refillAfter(p, name);
}

void Allocator::takeEncryptedSpare(const std::string& id, TemplateCache::Entry& entry) {
  Pending& p = pending_.at(id);
  std::string name = entry.name;
  std::unique_ptr<TemplateSource> source;
  // An encrypted image is never a clone of the plaintext template: a spare, encrypted already
  // under a key of its own, is renamed into place, or the image is made cold.
  if (p.plan.spec.uuid.empty()) {
    if (auto spare = ctx_.templates.takeSpare(name)) {
      source = std::make_unique<TemplateSource>();
      source->name = name;
      source->dirFd = ctx_.templates.dirFd();
      source->format = TemplateCache::spareFormat(entry);
      source->spareFile = spare->file;
      source->spareUuid = spare->uuid;
      source->encrypted = true;
      p.passphrase = std::move(spare->passphrase);
    }
  }
  submit(id, std::move(source));
  refillAfter(p, name);
}

void Allocator::refillAfter(Pending& p, const std::string& name) {
  // A spare's rename answers in a millisecond: its refill waits for the answer (Pending::refills).
  makeSpares(name, p.path == AllocatePath::kSpare ? &p.refills : nullptr);
}

void Allocator::makeSpares(const std::string& name, std::vector<std::function<void()>>* later) {
  TemplateCache::Entry* entry = ctx_.templates.byName(name);
  if (entry == nullptr || sparesStopped_->load()) return;
  unsigned count = ctx_.templates.spareDeficit(*entry);
  // A spare may be a full data copy of the template: counted at the template's size.
  uint64_t cost = entry->allocated;
  for (unsigned i = 0; i < count; ++i) {
    if (!roomFor(cost)) {
      // Not counted as building any more; kCancelled is dropped without a warning.
      ctx_.templates.spareBuilt(name, entry->generation,
                                Status(ErrorCode::kCancelled, "no room above the reserve"));
      continue;
    }
    std::string uuid = image::randomFilesystemUuid(entry->filesystem);
    std::string file = ctx_.templates.spareFileName(*entry, uuid);
    std::string passphrase;
    if (entry->encrypted) {
      auto fresh = newPassphrase();
      if (!fresh.ok()) {
        ctx_.templates.spareBuilt(name, entry->generation, fresh.status());
        continue;
      }
      passphrase = std::move(*fresh);
    }
    std::string templateFile = ctx_.templates.fileName(*entry);
    std::string templatePath = ctx_.templates.filePath(*entry);
    image::ImageFormat format = entry->format;
    image::ImageFormat spareFormat = TemplateCache::spareFormat(*entry);
    bool overlay = ctx_.templates.overlayFor(*entry);
    uint64_t generation = entry->generation;
    const ServiceContext& ctx = ctx_;
    backgroundBytes_ += cost;
    auto start = [this, &ctx, name, generation, uuid, file, templateFile, templatePath, format,
                  spareFormat, overlay, cost, passphrase] {
      Submitted queued =
          ctx.workers.submit(Lane::kBackground, [this, &ctx, stopped = sparesStopped_, name,
                                                 generation, uuid, file, templateFile, templatePath,
                                                 format, spareFormat, overlay, cost, passphrase] {
            Result<TemplateCache::Spare> spare = Status(ErrorCode::kCancelled, "shutting down");
            if (!stopped->load()) {
              spare = passphrase.empty()
                          ? buildSpare(ctx.engine, ctx.templates.dirFd(), templateFile,
                                       templatePath, format, file, uuid, overlay)
                          : buildEncryptedSpare(ctx.engine, ctx.templates.dirFd(), templateFile,
                                                templatePath, file, uuid, spareFormat, passphrase);
            }
            ctx.post([this, &ctx, name, generation, spare, cost] {
              backgroundBytes_ -= cost;
              ctx.templates.spareBuilt(name, generation, spare);
              ctx.templates.evict();
            });
          });
      if (queued != Submitted::kQueued) {
        backgroundBytes_ -= cost;
        // A spare that finds no room is simply not made (kCancelled is dropped without a
        // warning).
        ctx.templates.spareBuilt(name, generation,
                                 Status(ErrorCode::kCancelled, "the background lane is full"));
      }
    };
    if (later != nullptr) {
      later->push_back(std::move(start));
    } else {
      start();
    }
  }
}

void Allocator::submit(const std::string& id, std::unique_ptr<TemplateSource> source) {
  Pending& p = pending_.at(id);
  p.path = p.plan.incoming              ? AllocatePath::kIncoming
           : source == nullptr          ? AllocatePath::kCold
           : !source->spareFile.empty() ? AllocatePath::kSpare
                                        : AllocatePath::kTemplate;
  // A spare's rename takes a millisecond: no job object comes and goes for it on the bus.
  if (p.path != AllocatePath::kSpare) ctx_.jobs.announce(p.job->id());
  BuildTask task;
  ImageRecord& r = task.stored.record;
  r.id = id;
  r.domainUuid = p.plan.domain.uuid;
  r.domainName = p.plan.domain.name;
  r.target = p.plan.target;
  r.spec = p.plan.spec;
  r.filesystemUuid = p.plan.filesystemUuid;
  r.lifetime = p.plan.lifetime;
  r.incoming = p.plan.incoming;
  r.discard = p.plan.discard;
  if (ctx_.config.poolShared) r.host = ctx_.config.poolHost;
  r.state = ImageState::kReady;
  task.engine = &ctx_.engine;
  task.domainDir = p.domainDir;
  task.spec = p.plan.spec;
  task.spec.uuid = p.plan.filesystemUuid;
  if (p.plan.incoming) task.spec = emptyImageOf(p.plan.spec);
  task.content = p.plan.content;
  task.poolFd = ctx_.pool.fd();
  task.maxSize = ctx_.config.maxImageSize;
  task.progress = p.job.get();
  if (p.plan.spec.encryption == image::Encryption::kLuks) {
    if (p.passphrase.empty()) {
      auto passphrase = newPassphrase();
      if (!passphrase.ok()) {
        BuildOutcome outcome;
        outcome.status = passphrase.status();
        ctx_.post([this, id, outcome] { finish(id, outcome); });
        return;
      }
      p.passphrase = std::move(*passphrase);
    }
    task.passphrase = p.passphrase;
  }
  std::shared_ptr<TemplateSource> shared(std::move(source));
  const ServiceContext& ctx = ctx_;
  Submitted queued =
      ctx_.workers.submit(Lane::kVmStart, [this, &ctx, id, task, shared, job = p.job] {
        BuildOutcome outcome;
        if (job->cancelled()) {
          outcome.status = cancelledByCaller();  // its caller went away while it waited
        } else {
          outcome = buildImage(task, shared.get());
        }
        ctx.post([this, id, outcome] { finish(id, outcome); });
      });
  if (queued != Submitted::kQueued) {
    BuildOutcome outcome;
    outcome.status = notQueued(queued, ctx_.workers.queueLimit());
    ctx_.post([this, id, outcome] { finish(id, outcome); });
  }
}

void Allocator::templateBuilt(const std::string& name, Result<uint64_t> result) {
  std::vector<std::string> waiters = std::move(templateWaiters_[name]);
  templateWaiters_.erase(name);
  if (result.ok()) {
    ctx_.templates.built(name, *result);
  } else {
    logLine(LogLevel::kWarning, "template " + name + " could not be built (" +
                                    result.status().message() + "); its allocations are made cold");
    ctx_.templates.discard(name);
  }
  for (const std::string& id : waiters) {
    if (pending_.count(id) == 0) continue;
    if (result.ok()) {
      dispatch(id);
    } else {
      submit(id, nullptr);
    }
  }
  if (result.ok()) makeSpares(name);
}

void Allocator::storeKey(const std::string& id, BuildOutcome outcome) {
  Pending& p = pending_.at(id);
  DiskKey key;
  key.secretUuid = vocabulary::secretUuidOf(p.plan.domain.uuid, p.plan.target);
  key.imagePath = ctx_.pool.imagePath(p.plan.domain.uuid, p.plan.target, p.plan.spec.format);
  std::string domain = p.plan.domain.name.empty()
                           ? p.plan.domain.uuid
                           : p.plan.domain.name + " (" + p.plan.domain.uuid + ")";
  key.description = "virt-scratch: key of scratch disk " + p.plan.target + " of domain " + domain;
  key.ephemeral = p.plan.lifetime == vocabulary::Lifetime::kBoot;
  key.passphrase = p.passphrase;
  ctx_.secrets->put(std::move(key), [this, alive = ctx_.alive, id,
                                     outcome = std::move(outcome)](Status stored) mutable {
    if (!alive.expired()) keyStored(id, std::move(outcome), stored);
  });
}

void Allocator::keyStored(const std::string& id, BuildOutcome outcome, const Status& stored) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  p.keyStored = true;
  wipeSecret(p.passphrase);
  if (!stored.ok()) {
    // Recorded, then deleted as a release would: an image nobody can open is not kept.
    ctx_.pool.insert(std::move(outcome.stored));
    if (auto removed = ctx_.pool.remove(id); !removed.ok()) {
      logLine(LogLevel::kError, "deleting the image " + id +
                                    " whose key was not kept: " + removed.status().message());
    }
    ctx_.secrets->drop(vocabulary::secretUuidOf(p.plan.domain.uuid, p.plan.target));
    outcome.stored = {};
    outcome.status = stored.withContext("its key could not be kept");
  }
  finish(id, std::move(outcome));
}

void Allocator::finish(const std::string& id, BuildOutcome outcome) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (outcome.status.ok() && !it->second.cancelled && !it->second.passphrase.empty() &&
      !it->second.keyStored) {
    return storeKey(id, std::move(outcome));
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  const std::string templateName = p.templateUse ? p.templateUse->name : std::string();
  // An overlay keeps the use of its template for as long as it is in the pool; otherwise the use
  // ends with `p`.
  bool keepsTemplate =
      outcome.status.ok() && p.templateUse && outcome.stored.templateName == p.templateUse->name;
  if (!outcome.cloneError.empty()) {
    logLine(LogLevel::kWarning, "cloning template " + templateName + " for " + id + " failed (" +
                                    outcome.cloneError + "); made it cold instead");
  }
  if (p.cancelled && outcome.status.ok()) {
    // Made before the cancel reached the build: recorded, then deleted as a release would, so a
    // crash in between leaves what start() cleans up. No one hears of it.
    ctx_.pool.insert(std::move(outcome.stored));
    if (auto removed = ctx_.pool.remove(id); !removed.ok()) {
      logLine(LogLevel::kError,
              "deleting the cancelled image " + id + ": " + removed.status().message());
    }
    if (p.keyStored) {
      ctx_.secrets->drop(vocabulary::secretUuidOf(p.plan.domain.uuid, p.plan.target));
    }
  }
  if (p.cancelled && (outcome.status.ok() || outcome.status.code() == ErrorCode::kCancelled)) {
    outcome.status = cancelledByCaller();  // the engine's own word is just "cancelled"
  }
  if (outcome.status.ok()) {
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - p.started;
    ctx_.metrics.allocated(outcome.cold ? AllocatePath::kCold : p.path, took.count());
    ctx_.pool.insert(std::move(outcome.stored),
                     keepsTemplate ? std::move(p.templateUse) : TemplateRef());
    if (ctx_.config.poolShared) {
      // Nobody else can hold it: the image was made here a moment ago under a new name.
      if (Status held = ctx_.pool.holdOwnerLock(*ctx_.pool.find(id)); !held.ok()) {
        logLine(LogLevel::kError, "image " + id + ": " + held.message());
      }
    }
    // The answers first, then the signals: the hook (and libvirt behind it) waits for the answer,
    // and the bus delivers one sender's messages in order. Nobody can see the difference: the
    // image object is published, and the job completed, before this loop thread reads the next
    // message, so a call on the answer's object path finds them.
    ImageRecord copy = ctx_.pool.find(id)->record;
    for (const Done& done : p.done) done(copy);
    if (const PoolEntry* entry = ctx_.pool.find(id)) ctx_.listener.imageAdded(entry->record);
    ctx_.jobs.complete(p.job->id(), {});
  } else {
    Status status = outcome.status.withContext("image " + p.plan.domain.uuid + "/" + p.plan.target +
                                               " was not created");
    ctx_.metrics.allocateFailed();
    ctx_.jobs.complete(p.job->id(), status);
    const std::string& uuid = p.plan.domain.uuid;
    if (!domainInFlight(uuid) && ctx_.pool.idsInDomain(uuid).empty()) {
      p.domainDir.reset();
      ctx_.pool.removeDomainDirIfEmpty(uuid);
    }
    for (const Done& done : p.done) done(status);
  }
  p.templateUse.reset();  // before evict, which passes over templates in use
  for (const auto& refill : p.refills) refill();
  ctx_.templates.evict();
  if (pending_.empty() && idle_) idle_();
}

}  // namespace virtscratch::daemon
