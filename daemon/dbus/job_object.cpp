#include "daemon/dbus/job_object.h"

#include <memory>

#include "daemon/dbus/authorizer.h"
#include "daemon/dbus/bus_errors.h"

namespace virtscratch::daemon::bus {

using org::virtscratch::Scratch1::Job_adaptor;

JobObject::JobObject(sdbus::IConnection& connection, Service& service, Authorizer& authorizer,
                     uint64_t id)
    : AdaptorInterfaces(connection, jobPath(id)),
      service_(service),
      authorizer_(authorizer),
      id_(id) {
  registerAdaptor();
  emitInterfacesAddedSignal({Job_adaptor::INTERFACE_NAME});
}

JobObject::~JobObject() {
  retire();
  unregisterAdaptor();
}

void JobObject::retire() {
  if (retired_) return;
  retired_ = true;
  try {
    emitInterfacesRemovedSignal({Job_adaptor::INTERFACE_NAME});
  } catch (...) {
    (void)unexpectedError("InterfacesRemoved", std::current_exception());
  }
}

JobInfo JobObject::info() const {
  if (final_) return *final_;
  std::optional<JobInfo> job = service_.findJob(id_);
  if (!job) throw toBusError({ErrorCode::kNotFound, "job " + std::to_string(id_) + " is gone"});
  return *job;
}

void JobObject::progress() {
  auto now = std::chrono::steady_clock::now();
  // The Service already keeps to the interval; this holds the bus to it whatever it sends.
  if (now - lastEmitted_ < kProgressInterval) return;
  lastEmitted_ = now;
  emitPropertiesChangedSignal(Job_adaptor::INTERFACE_NAME, {"Progress", "Bytes", "Rate"});
}

void JobObject::completed(const JobInfo& job, const Status& status) {
  // The final numbers too, unless that would break the interval: Completed ends it anyway.
  final_ = job;
  progress();
  emitCompleted(status.ok(), status.ok() ? std::string() : status.message());
}

void JobObject::Cancel(sdbus::Result<>&& result) {
  auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
  // The job may end, and this object go, before the answer: the body holds the Service and id.
  authorizedCall(authorizer_, getObject(), Action::kCancel, "Job.Cancel", reply,
                 [&service = service_, id = id_, reply](const Caller& caller) -> Status {
                   VS_RETURN_IF_ERROR(service.cancelJob(caller, id));
                   reply->returnResults();
                   return {};
                 });
}

std::string JobObject::Operation() {
  return busCall("Job.Operation", [&] { return info().operation; });
}
double JobObject::Progress() {
  return busCall("Job.Progress", [&] { return info().progress; });
}
uint64_t JobObject::Bytes() {
  return busCall("Job.Bytes", [&] { return info().bytes; });
}
uint64_t JobObject::Rate() {
  return busCall("Job.Rate", [&] { return info().rate; });
}

}  // namespace virtscratch::daemon::bus
