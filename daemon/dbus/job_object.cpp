#include "daemon/dbus/job_object.h"

#include <memory>

#include "daemon/dbus/authorizer.h"
#include "daemon/dbus/bus_errors.h"
#include "daemon/dbus/object_paths.h"

namespace virtscratch::daemon::bus {

using org::virtscratch::Scratch1::Job_adaptor;

JobObject::JobObject(sdbus::IConnection& connection, Service& service, Authorizer& authorizer,
                     const JobInfo& job)
    : AdaptorInterfaces(connection, jobPath(job.id)),
      service_(service),
      authorizer_(authorizer),
      job_(job) {
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

void JobObject::progress(const JobInfo& job) {
  // Only the numbers change; what the job is was fixed when it was made.
  job_.progress = job.progress;
  job_.bytes = job.bytes;
  job_.rate = job.rate;
  auto now = std::chrono::steady_clock::now();
  // The Service already keeps to the interval; this holds the bus to it whatever it sends.
  if (now - lastEmitted_ < kProgressInterval) return;
  lastEmitted_ = now;
  emitPropertiesChangedSignal(Job_adaptor::INTERFACE_NAME, {"Progress", "Bytes", "Rate"});
}

void JobObject::completed(const JobInfo& job, const Status& status) {
  // The final numbers too, unless that would break the interval: Completed ends it anyway.
  progress(job);
  emitCompleted(status.ok(), status.ok() ? std::string() : status.message());
}

void JobObject::Cancel(sdbus::Result<>&& result) {
  auto reply = std::make_shared<sdbus::Result<>>(std::move(result));
  // The job may end, and this object go, before the answer: the body holds the Service and id.
  authorizedCall(authorizer_, getObject(), Action::kCancel, "Job.Cancel", reply,
                 [&service = service_, id = job_.id, reply](const Caller& caller) -> Status {
                   VS_RETURN_IF_ERROR(service.cancelJob(caller, id));
                   reply->returnResults();
                   return {};
                 });
}

std::string JobObject::Operation() { return job_.operation; }
double JobObject::Progress() { return job_.progress; }
uint64_t JobObject::Bytes() { return job_.bytes; }
uint64_t JobObject::Rate() { return job_.rate; }

}  // namespace virtscratch::daemon::bus
