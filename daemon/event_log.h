// A ServiceListener that logs each image's coming and going, with IMAGE_ID= and DOMAIN_UUID=
// journal fields (log.h), then passes every event on to the listener it wraps (the bus face).
// Loop thread, as every ServiceListener.
#pragma once

#include <string_view>

#include "daemon/service.h"

namespace virtscratch::daemon {

class EventLog final : public ServiceListener {
 public:
  explicit EventLog(ServiceListener& next) : next_(next) {}

  void imageAdded(const ImageRecord& record) override;
  void imageChanged(const ImageRecord& record) override;
  void imageRemoved(const ImageRecord& record, std::string_view reason) override;
  void jobAdded(const JobInfo& job) override { next_.jobAdded(job); }
  void jobProgress(const JobInfo& job) override { next_.jobProgress(job); }
  void jobCompleted(const JobInfo& job, const Status& status) override;
  void spaceChanged(SpaceState state, uint64_t allocated, uint64_t available) override {
    next_.spaceChanged(state, allocated, available);
  }

 private:
  ServiceListener& next_;
};

}  // namespace virtscratch::daemon
