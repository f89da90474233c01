// Mirrors the Service on the bus: the manager object, one object per image and per job, and
// the signals (ImageAdded, ImageRemoved, PropertiesChanged, Completed). It is the Service's
// listener, and owns the Authorizer the objects ask. Loop thread only; destroy it before the
// connection. Methods that change something run their work outside their handler (after
// authorization), so an object can always be destroyed when its image or job goes.
#pragma once

#include <sdbus-c++/IConnection.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/service.h"

namespace virtscratch::daemon::bus {

class Authorizer;
class ManagerObject;
class ImageObject;
class JobObject;

class ObjectTree final : public ServiceListener {
 public:
  ObjectTree(sdbus::IConnection& connection, std::string version);
  ~ObjectTree() override;
  ObjectTree(const ObjectTree&) = delete;
  ObjectTree& operator=(const ObjectTree&) = delete;

  // Publishes the manager and an object for each image the Service has. Call once, after
  // Service::start() and before the bus name is requested; events before it are ignored (the
  // objects are made from the Service's state here).
  void attach(Service& service);
  // Removes every object (with InterfacesRemoved) and drops the authorizations still pending;
  // later events are ignored.
  void detach();

  // The object path of the image `id`. Never makes the object: imageAdded (or attach) does.
  std::string imagePath(const std::string& id) const;
  // The job's object path; the object is made when it does not exist yet (an Export's reply may
  // come before the listener's jobAdded).
  std::string ensureJob(const JobInfo& job);  // only its id is read

  void imageAdded(const ImageRecord& record) override;
  void imageChanged(const ImageRecord& record) override;
  void imageRemoved(const ImageRecord& record, std::string_view reason) override;
  void jobAdded(const JobInfo& job) override;
  void jobProgress(const JobInfo& job) override;
  void jobCompleted(const JobInfo& job, const Status& status) override;
  void spaceChanged(SpaceState state, uint64_t allocated, uint64_t available) override;

  // What Manager.Metrics answers (daemon/metrics_text.h); set by main, which knows the libvirt
  // side. Unset: an empty text.
  void setMetricsSource(std::function<std::string()> source) { metrics_ = std::move(source); }
  std::string metricsText() const { return metrics_ ? metrics_() : std::string(); }

 private:
  // Makes the image's object and sends ImageAdded; nothing when it exists or no Service is
  // attached. The one place image objects are made after attach().
  void addImage(const ImageRecord& record);

  sdbus::IConnection& connection_;
  std::string version_;
  Service* service_ = nullptr;
  std::unique_ptr<Authorizer> authorizer_;
  std::unique_ptr<ManagerObject> manager_;
  std::map<std::string, std::unique_ptr<ImageObject>> images_;
  std::map<uint64_t, std::unique_ptr<JobObject>> jobs_;
  std::function<std::string()> metrics_;
};

}  // namespace virtscratch::daemon::bus
