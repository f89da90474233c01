// Service::Impl: release of images and domains, at once or after asking the AttachmentProbe
// whether a running domain uses them; and release by lifetime for the libvirt watcher.
#include <algorithm>

#include "daemon/log.h"
#include "daemon/service_impl.h"
#include "vocabulary/disk_secret.h"
#include "vocabulary/domain_uuid.h"

namespace virtscratch::daemon {

Status Service::Impl::removeImage(std::string_view id, std::string_view reason) {
  if (config_.poolShared && letGoInstead(id, reason)) return {};
  VS_ASSIGN_OR_RETURN(PoolEntry removed, pool_.remove(id));
  if (removed.record.spec.encryption == image::Encryption::kLuks) {
    secrets_->drop(vocabulary::secretUuidOf(removed.record.domainUuid, removed.record.target));
  }
  if (removed.templateUse) {
    removed.templateUse.reset();  // the overlay's use of its template ends here
    templates_.evict();
  }
  const std::string& uuid = removed.record.domainUuid;
  if (!allocator_.domainInFlight(uuid) && pool_.idsInDomain(uuid).empty()) {
    pool_.removeDomainDirIfEmpty(uuid);
  }
  removed.record.state = ImageState::kReleasing;
  listener_.imageRemoved(removed.record, reason);
  return {};
}

Result<std::string> Service::Impl::domainToRelease(std::string_view domain) {
  if (!started_) return notStarted();
  if (vocabulary::isUuid(domain)) return vocabulary::normaliseUuid(domain);
  auto resolved = resolveDomain(domain, resolver_);
  if (resolved.ok()) return resolved->uuid;
  // A domain undefined already is still known by the name in its records. Only a name that
  // libvirt does not know qualifies: an empty or malformed one would match the records of
  // images allocated by UUID, which have no name.
  if (domain.empty() || resolved.status().code() != ErrorCode::kNotFound) {
    return resolved.status();
  }
  std::string uuid;
  for (const PoolEntry* e : pool_.entries()) {
    if (e->record.domainName == domain) uuid = e->record.domainUuid;
  }
  if (uuid.empty()) return resolved.status();
  return uuid;
}

std::vector<std::string> Service::Impl::idsInDomain(
    const std::string& uuid, const std::vector<vocabulary::Lifetime>& lifetimes) const {
  std::vector<std::string> ids = pool_.idsInDomain(uuid);
  if (lifetimes.empty()) return ids;
  std::erase_if(ids, [&](const std::string& id) {
    vocabulary::Lifetime lifetime = pool_.find(id)->record.lifetime;
    return std::find(lifetimes.begin(), lifetimes.end(), lifetime) == lifetimes.end();
  });
  return ids;
}

Result<uint32_t> Service::Impl::releaseDomain(std::string_view domain, std::string_view reason,
                                              const std::vector<vocabulary::Lifetime>& lifetimes) {
  VS_ASSIGN_OR_RETURN(std::string uuid, domainToRelease(domain));
  if (allocator_.domainInFlight(uuid)) {
    return Status(ErrorCode::kBusy, "an image of domain " + uuid +
                                        " is being created; release it once Allocate returned");
  }
  std::vector<std::string> ids = idsInDomain(uuid, lifetimes);
  for (const std::string& id : ids) {
    if (busy(id)) {
      return Status(ErrorCode::kBusy, "image " + id + " is being exported; cancel or wait");
    }
  }
  uint32_t released = 0;
  for (const std::string& id : ids) {
    VS_RETURN_IF_ERROR(removeImage(id, reason));
    ++released;
  }
  return released;
}

Status Service::Impl::checkReleasable(std::string_view id) const {
  if (!started_) return notStarted();
  if (busy(id)) {
    return {ErrorCode::kBusy, "image " + std::string(id) +
                                  " is being created or exported; release it once that is done"};
  }
  if (pool_.find(id) == nullptr) {
    return {ErrorCode::kNotFound, "no image '" + std::string(id) + "'"};
  }
  return {};
}

Status Service::Impl::releaseImage(std::string_view id, std::string_view reason) {
  VS_RETURN_IF_ERROR(checkReleasable(id));
  return removeImage(id, reason);
}

void Service::Impl::releaseImage(std::string_view id, ReleaseOptions options,
                                 std::function<void(Status)> done) {
  metrics_.request("release", options.origin.empty() ? kOriginBus : options.origin);
  if (Status s = checkReleasable(id); !s.ok()) return done(s);
  if (options.force || probe_ == nullptr) {
    return releaseAndAnswer<Status>([&] { return releaseImage(id, "released"); }, done);
  }
  const ImageRecord& record = pool_.find(id)->record;
  askThenRelease(record.domainUuid, {record.path}, done, [this, id = std::string(id), done] {
    releaseAndAnswer<Status>([&] { return releaseImage(id, "released"); }, done);
  });
}

void Service::Impl::releaseDomain(std::string_view domain, ReleaseOptions options,
                                  std::function<void(Result<uint32_t>)> done) {
  metrics_.request("release", options.origin.empty() ? kOriginBus : options.origin);
  auto uuid = domainToRelease(domain);
  if (!uuid.ok()) return done(uuid.status());
  std::vector<std::string> paths;
  for (const std::string& id : idsInDomain(*uuid, options.lifetimes)) {
    paths.push_back(pool_.find(id)->record.path);
  }
  if (options.force || probe_ == nullptr || paths.empty()) {
    return releaseAndAnswer<Result<uint32_t>>(
        [&] { return releaseDomain(*uuid, "released", options.lifetimes); }, done);
  }
  askThenRelease(
      *uuid, std::move(paths), [done](Status refused) { done(refused); },
      [this, uuid = *uuid, lifetimes = options.lifetimes, done] {
        releaseAndAnswer<Result<uint32_t>>(
            [&] { return releaseDomain(uuid, "released", lifetimes); }, done);
      });
}

void Service::Impl::askThenRelease(const std::string& uuid, std::vector<std::string> paths,
                                   std::function<void(Status)> refused,
                                   std::function<void()> release) {
  std::weak_ptr<int> alive = alive_;
  probe_->inUse(uuid, std::move(paths), [alive, uuid, refused, release](Result<DomainUse> use) {
    if (alive.expired()) return;
    if (!use.ok()) {
      return refused({ErrorCode::kBusy,
                      "cannot tell whether domain " + uuid + " runs with its scratch disks (" +
                          use.status().message() + "); pass force to release anyway"});
    }
    if (use->attachedPaths.empty()) return release();
    std::string files;
    for (const std::string& path : use->attachedPaths) files += (files.empty() ? "" : ", ") + path;
    std::string name = use->name.empty() ? uuid : use->name + " (" + uuid + ")";
    refused({ErrorCode::kBusy, files + " is attached to the running domain " + name +
                                   "; shut the domain down or detach the disk first, or pass " +
                                   "force to release anyway"});
  });
}

uint32_t Service::Impl::releaseByLifetime(std::string_view domainUuid,
                                          const std::vector<vocabulary::Lifetime>& lifetimes,
                                          std::string_view reason, uint64_t claimedUpTo) {
  return releaseWhere(
      domainUuid,
      [&lifetimes](const ImageRecord& r) {
        return std::find(lifetimes.begin(), lifetimes.end(), r.lifetime) != lifetimes.end();
      },
      reason, claimedUpTo);
}

uint32_t Service::Impl::releaseWhere(std::string_view domainUuid,
                                     const std::function<bool(const ImageRecord&)>& which,
                                     std::string_view reason, uint64_t claimedUpTo) {
  if (!started_ || !vocabulary::isUuid(domainUuid)) return 0;
  uint32_t released = 0;
  for (const std::string& id : pool_.idsInDomain(vocabulary::normaliseUuid(domainUuid))) {
    const PoolEntry* entry = pool_.find(id);
    if (!which(entry->record)) continue;
    if (entry->record.claim > claimedUpTo) {
      logLine(LogLevel::kInfo, "image " + id + " was asked for again after the event; kept (" +
                                   std::string(reason) + " of an earlier run)");
      continue;
    }
    if (busy(id)) {
      logLine(LogLevel::kWarning,
              "image " + id + " is busy; it was not released (" + std::string(reason) + ")");
      continue;
    }
    Status status = removeImage(id, reason);
    if (status.ok()) {
      ++released;
    } else {
      logLine(LogLevel::kError, "releasing " + id + ": " + status.message());
    }
  }
  return released;
}

void Service::Impl::settleIncoming(std::string_view domainUuid) {
  if (!started_ || !vocabulary::isUuid(domainUuid)) return;
  std::string uuid = vocabulary::normaliseUuid(domainUuid);
  for (const std::string& id : pool_.idsInDomain(uuid)) {
    PoolEntry* entry = pool_.find(id);
    if (!entry->record.incoming) continue;
    if (entry->record.adopting) {
      adopt(id, 0);
      continue;
    }
    entry->record.incoming = false;
    // Written at once, as a release is: a restart must not take the image for an unused one.
    Status status = pool_.writeRecord(*entry);
    if (!status.ok()) {
      logLine(LogLevel::kError, "image " + id + " came by migration and runs, but its record " +
                                    "still says incoming (" + status.message() +
                                    "); a restart while the domain is stopped would release it");
      continue;
    }
    logLine(LogLevel::kInfo, "image " + id + " came by migration and runs here");
  }
}

}  // namespace virtscratch::daemon
