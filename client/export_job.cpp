// ScratchClient::exportImage: Manager.Export, then the job's signals until it ends. Signals may
// arrive before Export's reply is read, so the matches are added first and what they say is kept
// by job path until the job's path is known. A daemon that dies sends no Completed: its name
// losing its owner ends the wait instead.
#include <map>
#include <string>
#include <utility>
#include <variant>

#include "client/client_impl.h"
#include "client/message_reader.h"
#include "client/message_writer.h"
#include "client/scratch_client.h"
#include "vocabulary/bus_names.h"

namespace virtscratch::client {
namespace {

// Progress is reported and the cancel check asked at least this often.
constexpr uint64_t kTickUs = 100000;

struct JobEvents {
  std::map<std::string, double> progress;
  std::map<std::string, std::pair<bool, std::string>> completed;
  bool daemonGone = false;
};

// A job's Completed or PropertiesChanged; what cannot be read is left out (the wait then goes on
// until the daemon's name loses its owner).
int onJobSignal(sd_bus_message* message, void* userdata, sd_bus_error* /*unused*/) {
  auto* events = static_cast<JobEvents*>(userdata);
  std::string path = sd_bus_message_get_path(message);
  std::string_view member = sd_bus_message_get_member(message);
  if (member == "Completed") {
    int success = 0;
    const char* text = nullptr;
    if (sd_bus_message_read(message, "bs", &success, &text) >= 0) {
      events->completed[path] = {success != 0, text != nullptr ? text : ""};
    }
  } else if (member == "PropertiesChanged") {
    auto interface = readString(message, 's');
    if (!interface.ok() || *interface != vocabulary::kJobInterface) return 0;
    auto changed = readPropertyMap(message);
    if (!changed.ok()) return 0;
    auto it = changed->find("Progress");
    if (it != changed->end() && std::holds_alternative<double>(it->second)) {
      events->progress[path] = std::get<double>(it->second);
    }
  }
  return 0;
}

int onOwnerChanged(sd_bus_message* message, void* userdata, sd_bus_error* /*unused*/) {
  const char* name = nullptr;
  const char* oldOwner = nullptr;
  const char* newOwner = nullptr;
  if (sd_bus_message_read(message, "sss", &name, &oldOwner, &newOwner) >= 0 &&
      (newOwner == nullptr || *newOwner == '\0')) {
    static_cast<JobEvents*>(userdata)->daemonGone = true;
  }
  return 0;
}

}  // namespace

Status ScratchClient::exportImage(std::string_view idOrPath, int fd, const ExportOptions& options,
                                  const ExportProgress& progress, const CancelCheck& cancelled) {
  VS_ASSIGN_OR_RETURN(std::string imagePath, imagePathFor(idOrPath));
  JobEvents events;
  std::string jobs(vocabulary::kJobPathPrefix.substr(0, vocabulary::kJobPathPrefix.size() - 1));
  VS_ASSIGN_OR_RETURN(SlotPtr jobSlot, impl_->bus.addMatch("type='signal',sender='" +
                                                               std::string(vocabulary::kBusName) +
                                                               "',path_namespace='" + jobs + "'",
                                                           onJobSignal, &events));
  VS_ASSIGN_OR_RETURN(
      SlotPtr ownerSlot,
      impl_->bus.addMatch("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop."
                          "DBus',member='NameOwnerChanged',arg0='" +
                              std::string(vocabulary::kBusName) + "'",
                          onOwnerChanged, &events));
  PropertyValue size;
  VS_RETURN_IF_ERROR(impl_->property(imagePath, vocabulary::kImageInterface, "VirtualSize", size));
  const uint64_t* totalValue = std::get_if<uint64_t>(&size);
  uint64_t total = totalValue != nullptr ? *totalValue : 0;
  OptionMap map;
  if (options.level) map["level"] = *options.level;
  if (options.threads) map["threads"] = *options.threads;
  VS_ASSIGN_OR_RETURN(MessagePtr reply,
                      impl_->call(kExport, vocabulary::kManagerPath, [&](sd_bus_message* m) {
                        int r = sd_bus_message_append(m, "oh", imagePath.c_str(), fd);
                        if (r < 0) return busFailure("writing Export's arguments", r);
                        return appendOptionMap(m, map);
                      }));
  VS_ASSIGN_OR_RETURN(std::string job, readString(reply.get(), 'o'));

  bool cancelSent = false;
  while (!events.completed.contains(job) && !events.daemonGone) {
    if (auto it = events.progress.find(job); progress && it != events.progress.end()) {
      progress(static_cast<uint64_t>(it->second * static_cast<double>(total)), total);
    }
    if (cancelled && !cancelSent && cancelled()) {
      cancelSent = true;
      // An error means the job ended meanwhile; its Completed signal tells how.
      (void)impl_->call(kCancel, job);
      continue;
    }
    VS_RETURN_IF_ERROR(impl_->bus.processThenWait(kTickUs));
  }
  auto end = events.completed.find(job);
  if (end == events.completed.end()) {
    return failed("virt-scratchd stopped before the export ended (killed or restarted)");
  }
  if (!end->second.first) {
    return Status(cancelSent ? ErrorCode::kCancelled : ErrorCode::kFailed, end->second.second);
  }
  if (progress) progress(total, total);
  return {};
}

}  // namespace virtscratch::client
