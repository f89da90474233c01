// The Service's public face: each method forwards to Service::Impl (service_impl.h), which holds
// the rules. The Caller is kept in the contract for the bus face; only Allocate needs it today
// (content is read with the caller's rights).
#include "daemon/service.h"

#include "daemon/service_impl.h"

namespace virtscratch::daemon {

Service::Service(Config config, LoopInvoker& loop, ServiceListener& listener,
                 DomainResolver& resolver, ImageEngine& engine)
    : impl_(std::make_unique<Impl>(std::move(config), loop, listener, resolver, engine)) {}

Service::~Service() = default;

Result<std::string> Service::start() { return impl_->start(); }

void Service::allocate(const Caller& caller, AllocateRequest request,
                       std::function<void(Result<ImageRecord>)> done) {
  impl_->allocate(caller, std::move(request), std::move(done));
}

void Service::releaseImage(const Caller& /*caller*/, std::string_view id, ReleaseOptions options,
                           std::function<void(Status)> done) {
  impl_->releaseImage(id, options, std::move(done));
}

void Service::releaseDomain(const Caller& /*caller*/, std::string_view domain,
                            ReleaseOptions options, std::function<void(Result<uint32_t>)> done) {
  impl_->releaseDomain(domain, options, std::move(done));
}

void Service::setAttachmentProbe(AttachmentProbe* probe) { impl_->setAttachmentProbe(probe); }
void Service::setSecretStore(SecretStore* store) { impl_->setSecretStore(store); }
Result<UniqueFd> Service::openKey(const Caller& caller, std::string_view id) {
  return impl_->openKey(caller, id);
}

Result<uint32_t> Service::releaseDomain(const Caller& /*caller*/, std::string_view domain,
                                        std::string_view reason) {
  return impl_->releaseDomain(domain, reason);
}

Status Service::releaseImage(const Caller& /*caller*/, std::string_view id,
                             std::string_view reason) {
  return impl_->releaseImage(id, reason);
}

uint32_t Service::releaseByLifetime(std::string_view domainUuid,
                                    std::vector<vocabulary::Lifetime> lifetimes,
                                    std::string_view reason, uint64_t claimedUpTo) {
  return impl_->releaseByLifetime(domainUuid, lifetimes, reason, claimedUpTo);
}

uint32_t Service::releaseIncoming(std::string_view domainUuid, std::string_view reason,
                                  uint64_t claimedUpTo) {
  return impl_->releaseWhere(
      domainUuid, [](const ImageRecord& r) { return r.incoming; }, reason, claimedUpTo);
}

void Service::settleIncoming(std::string_view domainUuid) { impl_->settleIncoming(domainUuid); }

void Service::callerGone(const std::string& sender) { impl_->callerGone(sender); }

uint64_t Service::claimMark() const { return impl_->claimMark(); }

Status Service::setState(std::string_view id, ImageState state) {
  return impl_->setState(id, state);
}

std::vector<const ImageRecord*> Service::images() const { return impl_->images(); }

const ImageRecord* Service::findImage(std::string_view id) const { return impl_->findImage(id); }

uint64_t Service::allocatedBytes(std::string_view id) const { return impl_->allocatedBytes(id); }

Result<uint64_t> Service::startExport(const Caller& /*caller*/, std::string_view id,
                                      ExportParams params) {
  return impl_->startExport(id, std::move(params));
}

Status Service::cancelJob(const Caller& /*caller*/, uint64_t jobId) {
  return impl_->cancelJob(jobId);
}

std::vector<JobInfo> Service::jobs() const { return impl_->jobs(); }

std::optional<JobInfo> Service::findJob(uint64_t jobId) const { return impl_->findJob(jobId); }

PoolStatus Service::poolStatus() const { return impl_->poolStatus(); }
void Service::refreshSpace() { impl_->refreshSpace(); }
const Metrics& Service::metrics() const { return impl_->metrics(); }

void Service::shutdown(bool cancel, std::function<void()> done) {
  impl_->shutdown(cancel, std::move(done));
}

Status Service::reconfigure(const Config& config) { return impl_->reconfigure(config); }

}  // namespace virtscratch::daemon
