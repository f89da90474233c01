#include "daemon/event_log.h"

#include <string>

#include "daemon/log.h"
#include "image/size.h"

namespace virtscratch::daemon {

void EventLog::imageAdded(const ImageRecord& record) {
  logLine(LogLevel::kInfo,
          "image " + record.id + " added for domain " + record.domainUuid + ": " +
              image::formatSize(record.spec.size) + " " +
              std::string(image::toString(record.spec.format)) + ", " +
              std::string(image::toString(record.spec.filesystem)) + ", partition table " +
              std::string(image::toString(record.spec.partition)) + ", lifetime " +
              std::string(vocabulary::toString(record.lifetime)),
          {{kImageIdField, record.id}, {kDomainUuidField, record.domainUuid}});
  next_.imageAdded(record);
}

void EventLog::imageChanged(const ImageRecord& record) {
  logLine(LogLevel::kDebug, "image " + record.id + " is " + std::string(toString(record.state)),
          {{kImageIdField, record.id}, {kDomainUuidField, record.domainUuid}});
  next_.imageChanged(record);
}

void EventLog::imageRemoved(const ImageRecord& record, std::string_view reason) {
  logLine(LogLevel::kInfo, "image " + record.id + " removed (" + std::string(reason) + ")",
          {{kImageIdField, record.id}, {kDomainUuidField, record.domainUuid}});
  next_.imageRemoved(record, reason);
}

void EventLog::jobCompleted(const JobInfo& job, const Status& status) {
  if (status.ok()) {
    logLine(LogLevel::kInfo, job.operation + " job " + std::to_string(job.id) + " finished (" +
                                 image::formatSize(job.bytes) + ")");
  } else {
    logLine(LogLevel::kWarning,
            job.operation + " job " + std::to_string(job.id) + " failed: " + status.message());
  }
  next_.jobCompleted(job, status);
}

}  // namespace virtscratch::daemon
