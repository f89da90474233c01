#include "daemon/allocator.h"

#include <utility>

#include "daemon/log.h"
#include "daemon/template_files.h"
#include "image/filesystem_uuid.h"

namespace virtscratch::daemon {

void Allocator::start(AllocationPlan plan, Done done) {
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
  p.job = ctx_.jobs.add("allocate");
  dispatch(id);
}

void Allocator::join(std::string_view id, Done done) {
  auto it = pending_.find(std::string(id));
  if (it != pending_.end()) it->second.done.push_back(std::move(done));
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
  auto key = ctx_.templates.keyOf(p.plan.spec);
  if (!key) return submit(id, nullptr);
  TemplateCache::Entry* entry = ctx_.templates.find(*key);
  if (entry == nullptr) {
    // The template is made besides the image: only when both fit above the reserve.
    uint64_t cost = expectedAllocation(p.plan.spec);
    if (!roomFor(cost)) return submit(id, nullptr);
    entry = ctx_.templates.add(*key, p.plan.spec);
    if (entry == nullptr) return submit(id, nullptr);  // its name is another key's
    std::string name = entry->name;
    templateWaiters_[name].push_back(id);
    backgroundBytes_ += cost;
    const ServiceContext& ctx = ctx_;
    bool queued = ctx_.workers.submit([this, &ctx, name, cost, key = *key, spec = p.plan.spec] {
      auto built = buildTemplate(ctx.engine, ctx.templates.dirFd(), name, key, spec,
                                 ctx.config.maxImageSize);
      ctx.post([this, name, cost, built] {
        backgroundBytes_ -= cost;
        templateBuilt(name, built);
      });
    });
    if (!queued) {
      ctx_.post([this, name, cost] {
        backgroundBytes_ -= cost;
        templateBuilt(name, Status(ErrorCode::kBusy, "the daemon is shutting down"));
      });
    }
    return;
  }
  if (!entry->ready) {
    templateWaiters_[entry->name].push_back(id);
    return;
  }
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
  makeSpares(name);
}

void Allocator::makeSpares(const std::string& name) {
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
    std::string templateFile = ctx_.templates.fileName(*entry);
    std::string templatePath = ctx_.templates.filePath(*entry);
    image::ImageFormat format = entry->format;
    bool overlay = ctx_.templates.overlayFor(*entry);
    uint64_t generation = entry->generation;
    const ServiceContext& ctx = ctx_;
    backgroundBytes_ += cost;
    bool queued = ctx_.workers.submit([this, &ctx, stopped = sparesStopped_, name, generation, uuid,
                                       file, templateFile, templatePath, format, overlay, cost] {
      Result<TemplateCache::Spare> spare = Status(ErrorCode::kCancelled, "shutting down");
      if (!stopped->load()) {
        spare = buildSpare(ctx.engine, ctx.templates.dirFd(), templateFile, templatePath, format,
                           file, uuid, overlay);
      }
      ctx.post([this, &ctx, name, generation, spare, cost] {
        backgroundBytes_ -= cost;
        ctx.templates.spareBuilt(name, generation, spare);
        ctx.templates.evict();
      });
    });
    if (!queued) {
      backgroundBytes_ -= cost;
      ctx_.templates.spareBuilt(name, generation, Status(ErrorCode::kBusy, "shutting down"));
    }
  }
}

void Allocator::submit(const std::string& id, std::unique_ptr<TemplateSource> source) {
  Pending& p = pending_.at(id);
  BuildTask task;
  ImageRecord& r = task.stored.record;
  r.id = id;
  r.domainUuid = p.plan.domain.uuid;
  r.domainName = p.plan.domain.name;
  r.target = p.plan.target;
  r.spec = p.plan.spec;
  r.filesystemUuid = p.plan.filesystemUuid;
  r.lifetime = p.plan.lifetime;
  r.state = ImageState::kReady;
  task.engine = &ctx_.engine;
  task.domainDir = p.domainDir;
  task.spec = p.plan.spec;
  task.spec.uuid = p.plan.filesystemUuid;
  task.content = p.plan.content;
  task.poolFd = ctx_.pool.fd();
  task.maxSize = ctx_.config.maxImageSize;
  task.progress = p.job.get();
  std::shared_ptr<TemplateSource> shared(std::move(source));
  const ServiceContext& ctx = ctx_;
  bool queued = ctx_.workers.submit([this, &ctx, id, task, shared, job = p.job] {
    BuildOutcome outcome = buildImage(task, shared.get());
    ctx.post([this, id, outcome] { finish(id, outcome); });
  });
  if (!queued) {
    BuildOutcome outcome;
    outcome.status = {ErrorCode::kBusy, "the daemon is shutting down"};
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

void Allocator::finish(const std::string& id, BuildOutcome outcome) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
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
  if (outcome.status.ok()) {
    ctx_.pool.insert(std::move(outcome.stored),
                     keepsTemplate ? std::move(p.templateUse) : TemplateRef());
    const ImageRecord& record = ctx_.pool.find(id)->record;
    ctx_.listener.imageAdded(record);
    ctx_.jobs.complete(p.job->id(), {});
    ImageRecord copy = record;
    for (const Done& done : p.done) done(copy);
  } else {
    Status status = outcome.status.withContext("image " + p.plan.domain.uuid + "/" + p.plan.target +
                                               " was not created");
    ctx_.jobs.complete(p.job->id(), status);
    const std::string& uuid = p.plan.domain.uuid;
    if (!domainInFlight(uuid) && ctx_.pool.idsInDomain(uuid).empty()) {
      p.domainDir.reset();
      ctx_.pool.removeDomainDirIfEmpty(uuid);
    }
    for (const Done& done : p.done) done(status);
  }
  p.templateUse.reset();  // before evict, which passes over templates in use
  ctx_.templates.evict();
  if (pending_.empty() && idle_) idle_();
}

}  // namespace virtscratch::daemon
