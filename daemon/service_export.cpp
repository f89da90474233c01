// Service::Impl: export jobs and cancel. The gzip is written on a worker (exporter.h); the image
// counts as busy (not releasable) until its last export has ended.
#include "daemon/exporter.h"
#include "daemon/service_impl.h"

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
  VS_ASSIGN_OR_RETURN(ExportTask task, prepareExport(pool_, entry->record, std::move(params)));
  VS_ASSIGN_OR_RETURN(task.source, poolImageSource(*entry, templates_));
  std::shared_ptr<Job> job = jobs_->add("export");
  std::string key(id);
  ++exporting_[key];
  ++exportsRunning_;
  const ServiceContext& ctx = ctx_;
  uint64_t jobId = job->id();
  bool queued = workers_.submit([this, &ctx, key, jobId, task, job] {
    Status status = runExport(task, ctx.engine, job.get());
    ctx.post([this, key, jobId, status] { exportDone(key, jobId, status); });
  });
  if (!queued) ctx_.post([this, key, jobId] { exportDone(key, jobId, shuttingDown()); });
  return jobId;
}

void Service::Impl::exportDone(const std::string& id, uint64_t jobId, const Status& status) {
  if (auto it = exporting_.find(id); it != exporting_.end() && --it->second == 0) {
    exporting_.erase(it);
  }
  --exportsRunning_;
  jobs_->complete(jobId, status);
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
  return {};
}

}  // namespace virtscratch::daemon
