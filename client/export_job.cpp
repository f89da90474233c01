// ScratchClient::exportImage: Manager.Export, then the job's signals until it ends. The matches
// are added first, so no signal of the job is missed. A daemon that dies sends no Completed: its
// name losing its owner ends the wait instead.
//
// The system bus lets any local user send a signal straight to this connection, and sd-bus
// passes such a signal to a match that names a well-known sender. So a signal counts only when
// dbus-daemon stamped it as sent by the connection that answers for virt-scratchd here (its
// unique name, taken from the answer to the Get that comes before Export, and from Export's own
// answer), and NameOwnerChanged only when dbus-daemon itself sent it.
#include <map>
#include <string>
#include <string_view>
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
constexpr char kBusDriver[] = "org.freedesktop.DBus";

struct JobEvents {
  std::string daemon;  // virt-scratchd's unique name; empty until known: nothing counts before
  std::map<std::string, double> progress;                         // by job path
  std::map<std::string, std::pair<bool, std::string>> completed;  // by job path
  bool daemonGone = false;
  std::string matchRefused;  // the bus's answer when it refused a match rule
};

bool sentBy(sd_bus_message* message, std::string_view name) {
  return !name.empty() && senderOf(message) == name;
}

// A job's Completed or PropertiesChanged from virt-scratchd; what cannot be read is left out (the
// wait then goes on until the daemon's name loses its owner).
int onJobSignal(sd_bus_message* message, void* userdata, sd_bus_error* /*unused*/) {
  auto* events = static_cast<JobEvents*>(userdata);
  if (!sentBy(message, events->daemon)) return 0;
  std::string path = sd_bus_message_get_path(message);
  if (sd_bus_message_is_signal(message, vocabulary::kJobInterface, "Completed") > 0) {
    int success = 0;
    const char* text = nullptr;
    if (sd_bus_message_read(message, "bs", &success, &text) >= 0) {
      events->completed[path] = {success != 0, text != nullptr ? text : ""};
    }
  } else if (sd_bus_message_is_signal(message, "org.freedesktop.DBus.Properties",
                                      "PropertiesChanged") > 0) {
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

// virt-scratchd's name lost the owner that runs this export, in dbus-daemon's own words.
int onOwnerChanged(sd_bus_message* message, void* userdata, sd_bus_error* /*unused*/) {
  auto* events = static_cast<JobEvents*>(userdata);
  if (!sentBy(message, kBusDriver)) return 0;
  const char* name = nullptr;
  const char* oldOwner = nullptr;
  const char* newOwner = nullptr;
  if (sd_bus_message_read(message, "sss", &name, &oldOwner, &newOwner) >= 0 && name != nullptr &&
      std::string_view(vocabulary::kBusName) == name &&
      (newOwner == nullptr || *newOwner == '\0') && oldOwner != nullptr &&
      !events->daemon.empty() && events->daemon == oldOwner) {
    events->daemonGone = true;
  }
  return 0;
}

int onMatchInstalled(sd_bus_message* reply, void* userdata, sd_bus_error* /*unused*/) {
  const sd_bus_error* error = sd_bus_message_get_error(reply);
  if (error != nullptr) {
    static_cast<JobEvents*>(userdata)->matchRefused =
        std::string(error->name != nullptr ? error->name : "") + ": " +
        (error->message != nullptr ? error->message : "");
  }
  return 0;
}

// Bytes done of `total` at `fraction`, whatever number the signal carried.
uint64_t bytesDone(double fraction, uint64_t total) {
  if (!(fraction > 0)) return 0;  // NaN included
  if (fraction >= 1) return total;
  return static_cast<uint64_t>(fraction * static_cast<double>(total));
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
                                                           onJobSignal, onMatchInstalled, &events));
  VS_ASSIGN_OR_RETURN(SlotPtr ownerSlot,
                      impl_->bus.addMatch("type='signal',sender='" + std::string(kBusDriver) +
                                              "',interface='org.freedesktop.DBus',member='"
                                              "NameOwnerChanged',arg0='" +
                                              std::string(vocabulary::kBusName) + "'",
                                          onOwnerChanged, onMatchInstalled, &events));
  // The bus answers in order: by the time this Get is answered, so are both rules.
  PropertyValue size;
  VS_RETURN_IF_ERROR(
      impl_->property(imagePath, vocabulary::kImageInterface, "VirtualSize", size, &events.daemon));
  if (!events.matchRefused.empty()) {
    return failed("the system bus refused to pass on the export's progress (" +
                  events.matchRefused + ")");
  }
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
  // A daemon started again between the Get and Export runs the job: its signals count now. The
  // call stopped at its reply, so none of them has been handled yet.
  if (!sentBy(reply.get(), events.daemon)) {
    events.daemon = senderOf(reply.get());
    events.daemonGone = false;
  }

  bool cancelSent = false;
  auto ended = [&events, &job] { return events.completed.contains(job) || events.daemonGone; };
  while (!ended()) {
    if (auto it = events.progress.find(job); progress && it != events.progress.end()) {
      progress(bytesDone(it->second, total), total);
    }
    if (cancelled && !cancelSent && cancelled()) {
      cancelSent = true;
      // An error means the job ended meanwhile; its Completed signal tells how.
      (void)impl_->call(kCancel, job);
      continue;
    }
    VS_RETURN_IF_ERROR(impl_->bus.processThenWait(kTickUs, ended));
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
