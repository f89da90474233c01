// ScratchClient::exportImage: Manager.Export, then the job's signals until it ends. Signals may
// arrive before Export's reply is read, so the matches are added first and what they say is kept
// by job path until the job's path is known. A daemon that dies sends no Completed: its name
// losing its owner ends the wait instead.
#include <poll.h>

#include <algorithm>
#include <map>
#include <utility>

#include "client/client_impl.h"
#include "client/proxies.h"
#include "client/scratch_client.h"

namespace virtscratch::client {
namespace {

struct JobEvents {
  std::map<std::string, double> progress;
  std::map<std::string, std::pair<bool, std::string>> completed;
  bool daemonGone = false;
};

void onJobSignal(sdbus::Message& message, JobEvents& events) {
  std::string path = message.getPath();
  std::string member = message.getMemberName();
  if (member == "Completed") {
    bool success = false;
    std::string text;
    message >> success >> text;
    events.completed[path] = {success, text};
  } else if (member == "PropertiesChanged") {
    std::string interface;
    PropertyMap changed;
    message >> interface >> changed;
    auto it = changed.find("Progress");
    if (interface == vocabulary::kJobInterface && it != changed.end() &&
        it->second.containsValueOfType<double>()) {
      events.progress[path] = it->second.get<double>();
    }
  }
}

// Processes the connection until `done()`; `tick` runs at least every 100 ms.
void pumpUntil(sdbus::IConnection& connection, const std::function<bool()>& done,
               const std::function<void()>& tick) {
  while (true) {
    while (connection.processPendingRequest()) {
    }
    if (done()) return;
    tick();
    auto data = connection.getEventLoopPollData();
    int timeoutMs = 100;
    if (auto left = data.getRelativeTimeout()) {
      timeoutMs = static_cast<int>(std::min<int64_t>(timeoutMs, (left->count() + 999) / 1000));
    }
    struct pollfd fd = {data.fd, data.events, 0};
    ::poll(&fd, 1, timeoutMs);
  }
}

}  // namespace

Status ScratchClient::exportImage(std::string_view idOrPath, int fd, const ExportOptions& options,
                                  const ExportProgress& progress, const CancelCheck& cancelled) {
  VS_ASSIGN_OR_RETURN(std::string imagePath, imagePathFor(idOrPath));
  sdbus::IConnection& bus = *impl_->connection;
  JobEvents events;
  bool cancelSent = false;
  Status status = impl_->call([&]() -> Status {
    std::string jobs(vocabulary::kJobPathPrefix.substr(0, vocabulary::kJobPathPrefix.size() - 1));
    auto slot = bus.addMatch("type='signal',sender='" + std::string(vocabulary::kBusName) +
                                 "',path_namespace='" + jobs + "'",
                             [&events](sdbus::Message& m) { onJobSignal(m, events); });
    auto ownerSlot = bus.addMatch(
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        "member='NameOwnerChanged',arg0='" +
            std::string(vocabulary::kBusName) + "'",
        [&events](sdbus::Message& m) {
          std::string name, oldOwner, newOwner;
          m >> name >> oldOwner >> newOwner;
          if (newOwner.empty()) events.daemonGone = true;
        });
    ImageProxy image(bus, imagePath);
    uint64_t total = image.VirtualSize();
    PropertyMap map;
    if (options.level) map["level"] = sdbus::Variant(*options.level);
    if (options.threads) map["threads"] = sdbus::Variant(*options.threads);
    ManagerProxy manager(bus);
    std::string job = manager.Export(sdbus::ObjectPath(imagePath), sdbus::UnixFd(fd), map);

    pumpUntil(
        bus, [&] { return events.completed.contains(job) || events.daemonGone; },
        [&] {
          if (auto it = events.progress.find(job); progress && it != events.progress.end()) {
            progress(static_cast<uint64_t>(it->second * static_cast<double>(total)), total);
          }
          if (cancelled && !cancelSent && cancelled()) {
            cancelSent = true;
            try {
              JobProxy(bus, job).Cancel();
            } catch (const sdbus::Error&) {
              // The job ended meanwhile; its Completed signal tells how.
            }
          }
        });
    auto end = events.completed.find(job);
    if (end == events.completed.end()) {
      return failed("virt-scratchd stopped before the export ended (killed or restarted)");
    }
    if (!end->second.first) {
      return Status(cancelSent ? ErrorCode::kCancelled : ErrorCode::kFailed, end->second.second);
    }
    if (progress) progress(total, total);
    return {};
  });
  return status;
}

}  // namespace virtscratch::client
