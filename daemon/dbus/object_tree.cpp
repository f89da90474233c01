#include "daemon/dbus/object_tree.h"

#include <algorithm>
#include <utility>

#include "daemon/dbus/authorizer.h"
#include "daemon/dbus/bus_errors.h"
#include "daemon/dbus/image_object.h"
#include "daemon/dbus/job_object.h"
#include "daemon/dbus/manager_object.h"

namespace virtscratch::daemon::bus {
namespace {

// Listener calls come from the Service, not from sdbus-c++'s dispatch: an error sending a
// signal is logged, never thrown back into the Service.
template <typename F>
void noThrow(std::string_view what, F&& body) {
  try {
    body();
  } catch (...) {
    (void)unexpectedError(what, std::current_exception());
  }
}

}  // namespace

ObjectTree::ObjectTree(sdbus::IConnection& connection, std::string version)
    : connection_(connection), version_(std::move(version)) {}

ObjectTree::~ObjectTree() { detach(); }

void ObjectTree::attach(Service& service) {
  service_ = &service;
  authorizer_ = std::make_unique<Authorizer>(connection_);
  manager_ = std::make_unique<ManagerObject>(connection_, service, *this, *authorizer_, version_);
  for (const ImageRecord* record : service.images()) {
    images_.emplace(record->id,
                    std::make_unique<ImageObject>(connection_, service, *authorizer_, *record));
  }
  for (const JobInfo& job : service.jobs()) {
    jobs_.emplace(job.id, std::make_unique<JobObject>(connection_, service, *authorizer_, job.id));
  }
}

void ObjectTree::detach() {
  // First: the pending answers hold the Service and the manager.
  authorizer_.reset();
  jobs_.clear();
  images_.clear();
  manager_.reset();
  service_ = nullptr;
}

std::string ObjectTree::imagePath(const std::string& id) const { return bus::imagePath(id); }

void ObjectTree::addImage(const ImageRecord& record) {
  if (service_ == nullptr || images_.contains(record.id)) return;
  images_.emplace(record.id,
                  std::make_unique<ImageObject>(connection_, *service_, *authorizer_, record));
  manager_->emitImageAdded(sdbus::ObjectPath(imagePath(record.id)), record.domainUuid);
  manager_->poolChanged();
}

std::string ObjectTree::ensureJob(const JobInfo& job) {
  if (service_ != nullptr && !jobs_.contains(job.id)) {
    jobs_.emplace(job.id,
                  std::make_unique<JobObject>(connection_, *service_, *authorizer_, job.id));
  }
  return jobPath(job.id);
}

void ObjectTree::imageAdded(const ImageRecord& record) {
  noThrow("ImageAdded", [&] { addImage(record); });
}

void ObjectTree::imageChanged(const ImageRecord& record) {
  noThrow("image PropertiesChanged", [&] {
    auto it = images_.find(record.id);
    if (it == images_.end()) return addImage(record);
    std::vector<std::string> changed = it->second->changed();
    if (std::find(changed.begin(), changed.end(), "VirtualSize") != changed.end()) {
      manager_->poolChanged();
    }
  });
}

void ObjectTree::imageRemoved(const ImageRecord& record, std::string_view reason) {
  noThrow("ImageRemoved", [&] {
    auto it = images_.find(record.id);
    if (it == images_.end()) return;
    // InterfacesRemoved first (the object's destructor), then the manager's signal.
    images_.erase(it);
    manager_->emitImageRemoved(sdbus::ObjectPath(imagePath(record.id)), record.domainUuid,
                               std::string(reason));
    manager_->poolChanged();
  });
}

void ObjectTree::jobAdded(const JobInfo& job) {
  noThrow("job InterfacesAdded", [&] { ensureJob(job); });
}

void ObjectTree::jobProgress(const JobInfo& job) {
  noThrow("job PropertiesChanged", [&] {
    auto it = jobs_.find(job.id);
    if (it != jobs_.end()) it->second->progress();
  });
}

void ObjectTree::jobCompleted(const JobInfo& job, const Status& status) {
  noThrow("Completed", [&] {
    auto it = jobs_.find(job.id);
    if (it == jobs_.end()) return;
    it->second->completed(job, status);
    // Completion comes from the loop, never inside the job's own handler: it can go at once,
    // so a client that heard Completed finds no job any more.
    jobs_.erase(it);
  });
}

void ObjectTree::spaceChanged(SpaceState state, uint64_t allocated, uint64_t available) {
  noThrow("SpaceLow", [&] {
    if (manager_) manager_->spaceChanged(state, allocated, available);
  });
}

}  // namespace virtscratch::daemon::bus
