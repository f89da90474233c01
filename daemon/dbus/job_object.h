// The bus face of one job: /org/virtscratch/Scratch1/job/<n>, interface
// org.virtscratch.Scratch1.Job. A view over the Service's job: it keeps the job's id and reads
// its properties from service.findJob(id); only the final numbers, which the Service no longer
// has once the job completed, are kept for the last PropertiesChanged. Progress goes out as
// PropertiesChanged at most every 200 ms (whatever the Service reports); the end as the
// Completed signal, after which the owner removes the object. Loop thread only.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <chrono>
#include <optional>
#include <string>

#include "daemon/service.h"
#include "scratch1_adaptor.h"

namespace virtscratch::daemon::bus {

class Authorizer;

class JobObject final
    : public sdbus::AdaptorInterfaces<org::virtscratch::Scratch1::Job_adaptor,
                                      sdbus::ManagedObject_adaptor, sdbus::Properties_adaptor> {
 public:
  static constexpr std::chrono::milliseconds kProgressInterval{200};

  // The Service must hold the job `id`.
  JobObject(sdbus::IConnection& connection, Service& service, Authorizer& authorizer, uint64_t id);
  ~JobObject();
  JobObject(const JobObject&) = delete;
  JobObject& operator=(const JobObject&) = delete;

  // Announces the end (InterfacesRemoved) now; the object is destroyed later, outside the
  // handler that may be running on it.
  void retire();

  void progress();
  // `job`: its final numbers (the Service has forgotten it).
  void completed(const JobInfo& job, const Status& status);

 private:
  // The Service's job, or the final numbers after completed().
  JobInfo info() const;

  void Cancel(sdbus::Result<>&& result) override;
  std::string Operation() override;
  double Progress() override;
  uint64_t Bytes() override;
  uint64_t Rate() override;

  Service& service_;
  Authorizer& authorizer_;
  const uint64_t id_;
  bool retired_ = false;
  std::optional<JobInfo> final_;
  std::chrono::steady_clock::time_point lastEmitted_{};
};

}  // namespace virtscratch::daemon::bus
