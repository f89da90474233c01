// Service::Impl: a pool that other hosts mount too ([pool] shared = yes, shared_pool.h). Images
// are this host's once it holds their owner's lock; a migration's destination adopts the image
// the source lets go instead of making one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "daemon/log.h"
#include "daemon/service_impl.h"
#include "daemon/shared_pool.h"
#include "image/size.h"
#include "vocabulary/pool_layout.h"

namespace virtscratch::daemon {
namespace {

// The source lets go of the image when libvirt confirms the migration there, just after the
// domain runs here: a minute is far more than that takes. After it, the daemon says so and goes
// on trying, slower: the domain runs here on this image, and the marker keeps the source from
// deleting it.
constexpr unsigned kAdoptRetryMs = 250;
constexpr unsigned kAdoptAttempts = 240;
constexpr unsigned kAdoptSlowRetryMs = 10000;

}  // namespace

void Service::Impl::holdRecovered(const std::string& id, std::vector<std::string>& leftAlone) {
  PoolEntry& entry = *pool_.find(id);
  if (Status held = pool_.holdOwnerLock(entry); !held.ok()) {
    leftAlone.push_back("'" + id + "' (" + held.message() + ")");
    (void)pool_.forget(id);
    return;
  }
  if (!entry.record.host.empty()) return;
  // Made before the pool was shared: this host holds it, and its record says so from now on.
  entry.record.host = config_.poolHost;
  if (Status written = pool_.writeRecord(entry); !written.ok()) {
    logLine(LogLevel::kWarning,
            "image " + id + ": its record does not name this host yet (" + written.message() + ")");
  }
}

Result<bool> Service::Impl::adoptIncoming(const AllocationPlan& plan) {
  const std::string& uuid = plan.domain.uuid;
  UniqueFd dir = pool_.domainDir(uuid);
  if (!dir) {
    if (errno == ENOENT) return false;
    return errnoStatus("cannot open '" + pool_.path() + "/" + uuid + "'", errno);
  }
  std::string recordName = recordFileName(plan.target);
  struct stat st;
  if (fstatat(dir.get(), recordName.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
    return false;
  }
  VS_ASSIGN_OR_RETURN(StoredRecord stored,
                      readRecordAt(dir.get(), recordName, uuid + "/" + recordName));
  ImageRecord& r = stored.record;
  std::string path = pool_.imagePath(uuid, plan.target, r.spec.format);
  if (r.domainUuid != uuid || r.target != plan.target) {
    return failed("the shared pool's record " + uuid + "/" + recordName + " describes " +
                  r.domainUuid + "/" + r.target + "; remove it by hand and migrate again");
  }
  if (r.host == config_.poolHost) {
    return Status(ErrorCode::kAlreadyExists,
                  "'" + path + "' is this host's (" + config_.poolHost +
                      ") by its record, but virt-scratchd does not hold it; restart virt-scratchd "
                      "to take it back, or release it, and migrate again");
  }
  if (r.spec.format != plan.spec.format || r.spec.size != plan.spec.size) {
    return invalidArgument("the shared pool's image for " + plan.target + " of domain " + uuid +
                           " is " + std::string(image::toString(r.spec.format)) + " of " +
                           image::formatSize(r.spec.size) + ", the incoming domain's disk " +
                           std::string(image::toString(plan.spec.format)) + " of " +
                           image::formatSize(plan.spec.size) + "; make the two agree");
  }
  if (r.spec.encryption == image::Encryption::kLuks) {
    return invalidArgument("'" + path + "' is encrypted under a key of host " + r.host +
                           ", which cannot move with it; encrypted scratch disks migrate only "
                           "with a storage copy into a pool of the destination's own");
  }
  if (!stored.templateName.empty()) {
    return invalidArgument("'" + path + "' is an overlay on a template of host " + r.host +
                           ", which this host cannot open");
  }
  std::string image = vocabulary::imageFileName(plan.target, r.spec.format);
  if (fstatat(dir.get(), image.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
    return failed("the shared pool has a record for " + plan.target + " of domain " + uuid +
                  " but no image file '" + path + "'; remove the record and migrate again");
  }
  VS_RETURN_IF_ERROR(writeAdoptMarker(dir.get(), plan.target, config_.poolHost)
                         .withContext("'" + path + "' cannot be marked for adoption"));
  std::string owner = r.host.empty() ? "another host" : "host " + r.host;
  r.incoming = true;
  r.adopting = true;
  pool_.insert(std::move(stored));
  const ImageRecord& record = pool_.find(plan.id)->record;
  listener_.imageAdded(record);
  logLine(LogLevel::kInfo, "image " + plan.id + " is " + owner +
                               "'s in the shared pool; it is adopted once the domain runs here");
  return true;
}

void Service::Impl::adopt(const std::string& id, unsigned attempt) {
  PoolEntry* entry = pool_.find(id);
  if (entry == nullptr || !entry->record.adopting) return;
  ImageRecord& r = entry->record;
  std::string from = r.host.empty() ? "another host" : "host " + r.host;
  Status held = pool_.holdOwnerLock(*entry);
  if (!held.ok()) {
    if (attempt + 1 == kAdoptAttempts) {
      logLine(LogLevel::kError,
              "image " + id + " runs here but cannot be adopted from " + from + " yet (" +
                  held.message() + "); virt-scratchd tries again every 10 s, and " + from +
                  " lets it go rather than delete it while the adoption marker names this host");
    }
    ctx_.postAfter(attempt + 1 < kAdoptAttempts ? kAdoptRetryMs : kAdoptSlowRetryMs,
                   [this, id, attempt] { adopt(id, attempt + 1); });
    return;
  }
  r.host = config_.poolHost;
  r.incoming = false;
  r.adopting = false;
  if (Status written = pool_.writeRecord(*entry); !written.ok()) {
    logLine(LogLevel::kError, "image " + id + " is adopted from " + from +
                                  " but its record still names it (" + written.message() +
                                  "); a restart of virt-scratchd here would not take it back");
    return;
  }
  if (UniqueFd dir = pool_.domainDir(r.domainUuid)) {
    removeAdoptMarker(dir.get(), r.target, config_.poolHost);
  }
  logLine(LogLevel::kInfo, "image " + id + " came by migration in the shared pool: adopted from " +
                               from + " and runs here");
}

bool Service::Impl::letGoInstead(std::string_view id, std::string_view reason) {
  const PoolEntry* entry = pool_.find(id);
  if (entry == nullptr) return false;
  const ImageRecord& r = entry->record;
  const bool adopting = r.adopting;
  UniqueFd dir = pool_.domainDir(r.domainUuid);
  std::string to = dir ? adoptMarkerHost(dir.get(), r.target) : std::string();
  std::string why;
  if (adopting) {
    if (dir) removeAdoptMarker(dir.get(), r.target, config_.poolHost);
    why = "not adopted (" + std::string(reason) + "): it stays " +
          (r.host.empty() ? "another host" : "host " + r.host) + "'s";
  } else if (!to.empty() && to != config_.poolHost) {
    why = "handed over to host " + to + " (" + std::string(reason) + ")";
  } else {
    return false;
  }
  auto forgotten = pool_.forget(id);
  if (!forgotten.ok()) return false;
  forgotten->record.state = ImageState::kReleasing;
  logLine(LogLevel::kInfo, "image " + std::string(id) + " " + why + "; its files stay");
  listener_.imageRemoved(forgotten->record, adopting ? "not-adopted" : "handed-over");
  return true;
}

}  // namespace virtscratch::daemon
