// Service::Impl: export jobs and cancel. The gzip is written on a worker of the background lane
// (exporter.h), at most [jobs] exports at once; the others wait their turn in order. The image
// counts as busy (not releasable) until its last export has ended.
#include "daemon/exporter.h"
#include "daemon/secret_store.h"
#include "daemon/service_impl.h"
#include "vocabulary/disk_secret.h"

namespace virtscratch::daemon {

Result<uint64_t> Service::Impl::startExport(std::string_view id, ExportParams params) {
  if (!started_) return notStarted();
  if (stopping_) return shuttingDown();
  const PoolEntry* entry = pool_.find(id);
  if (entry == nullptr) {
    if (allocator_.inFlight(id)) {
      return Status(ErrorCode::kBusy, "image " + std::string(id) + " is still being created");
    }
    return Status(ErrorCode::kNotFound, "no image '" + std::string(id) + "'");
  }
  if (exportsWaiting_.size() >= workers_.queueLimit()) {
    return Status(ErrorCode::kBusy, std::to_string(exportsWaiting_.size()) +
                                        " exports wait their turn already (the limit, [jobs] " +
                                        "queue); try again once one has ended");
  }
  VS_ASSIGN_OR_RETURN(ExportTask task, prepareExport(pool_, entry->record, std::move(params)));
  VS_ASSIGN_OR_RETURN(task.source, poolImageSource(*entry, templates_));
  if (entry->record.spec.encryption == image::Encryption::kLuks) {
    // The export writes the guest's plaintext, read through the key the daemon holds.
    auto key = secrets_->passphraseFor(
        vocabulary::secretUuidOf(entry->record.domainUuid, entry->record.target));
    if (!key.ok()) {
      return Status(key.status().code(),
                    "image " + std::string(id) +
                        " is encrypted and cannot be exported: " + key.status().message());
    }
    task.source.passphrase = std::move(*key);
  }
  std::shared_ptr<Job> job = jobs_->add("export");
  std::string key(id);
  ++exporting_[key];
  ++exportsRunning_;
  exportsWaiting_.push_back(WaitingExport{key, std::move(task), job});
  launchExports();
  return job->id();
}

void Service::Impl::launchExports() {
  while (exportsActive_ < config_.concurrentExports && !exportsWaiting_.empty()) {
    WaitingExport next = std::move(exportsWaiting_.front());
    exportsWaiting_.pop_front();
    ++exportsActive_;
    const ServiceContext& ctx = ctx_;
    uint64_t jobId = next.job->id();
    Submitted queued = workers_.submit(
        Lane::kBackground, [this, &ctx, key = next.key, jobId, task = next.task, job = next.job] {
          Status status = runExport(task, ctx.engine, job.get());
          ctx.post([this, key, jobId, status] { exportDone(key, jobId, status, true); });
        });
    if (queued != Submitted::kQueued) {
      ctx_.post([this, key = next.key, jobId, status = notQueued(queued, workers_.queueLimit())] {
        exportDone(key, jobId, status, true);
      });
    }
  }
}

void Service::Impl::exportDone(const std::string& id, uint64_t jobId, const Status& status,
                               bool wasActive) {
  if (auto it = exporting_.find(id); it != exporting_.end() && --it->second == 0) {
    exporting_.erase(it);
  }
  --exportsRunning_;
  if (wasActive) --exportsActive_;
  jobs_->complete(jobId, status);
  launchExports();
  maybeFinishShutdown();
}

std::optional<JobInfo> Service::Impl::findJob(uint64_t jobId) const {
  std::shared_ptr<Job> job = jobs_->find(jobId);
  if (!job) return std::nullopt;
  return job->info();
}

Status Service::Impl::cancelJob(uint64_t jobId) {
  std::shared_ptr<Job> job = jobs_->find(jobId);
  if (!job) return {ErrorCode::kNotFound, "no job " + std::to_string(jobId)};
  job->cancel();
  // An export still waiting its turn ends now rather than when its turn comes.
  for (auto it = exportsWaiting_.begin(); it != exportsWaiting_.end(); ++it) {
    if (it->job != job) continue;
    std::string key = it->key;
    exportsWaiting_.erase(it);
    ctx_.post([this, key, jobId] {
      exportDone(key, jobId, Status(ErrorCode::kCancelled, "cancelled before it began"), false);
    });
    break;
  }
  return {};
}

}  // namespace virtscratch::daemon
