// Signals forged by a local user. The system bus lets any connection send a signal straight to
// any other (Debian's policy, which the private bus copies: <allow send_type="signal"/>), and
// sd-bus hands such a signal to a match rule that names a well-known sender: only the sender
// dbus-daemon stamped on it tells it apart. virt-scratchd is kept out of reach by the project's
// bus policy (only the listed calls may be sent to it) and checks the stamp as well; the client
// library's connections have no policy of their own and must check it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <vector>

#include "client/scratch_client.h"
#include "client/sd_bus_handles.h"
#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

using std::chrono::seconds;

constexpr uint64_t kMiB = uint64_t{1} << 20;

class DaemonForgedSignal : public DaemonTest {
 protected:
  // A connection of its own, past Hello.
  client::BusPtr openBus() {
    sd_bus* raw = nullptr;
    EXPECT_GE(sd_bus_open_system(&raw), 0);
    client::BusPtr bus(raw);
    const char* name = nullptr;
    EXPECT_GE(sd_bus_get_unique_name(bus.get(), &name), 0);
    return bus;
  }
  static std::string uniqueName(sd_bus* bus) {
    const char* name = nullptr;
    return sd_bus_get_unique_name(bus, &name) >= 0 ? name : "";
  }
  // dbus-daemon handles one connection's messages in order: once it has answered this call, it
  // has passed on everything `bus` sent before it.
  static void pingBus(sd_bus* bus) {
    sd_bus_message* reply = nullptr;
    ASSERT_GE(sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus", "GetId", nullptr, &reply, ""),
              0);
    sd_bus_message_unref(reply);
  }
  static std::string ownerOf(sd_bus* bus, const char* name) {
    sd_bus_message* reply = nullptr;
    if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "GetNameOwner", nullptr, &reply, "s",
                           name) < 0) {
      return "";
    }
    client::MessagePtr owned(reply);
    const char* owner = nullptr;
    return sd_bus_message_read(reply, "s", &owner) >= 0 ? owner : "";
  }
  // The unique names of this process's connections to the bus, but `except`.
  static std::vector<std::string> ownConnections(sd_bus* bus, const std::string& except) {
    std::vector<std::string> names;
    sd_bus_message* reply = nullptr;
    if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus", "ListNames", nullptr, &reply, "") < 0) {
      return names;
    }
    client::MessagePtr owned(reply);
    char** all = nullptr;
    if (sd_bus_message_read_strv(reply, &all) < 0) return names;
    for (char** name = all; name != nullptr && *name != nullptr; ++name) {
      std::string text(*name);
      free(*name);
      if (!text.starts_with(':') || text == except) continue;
      sd_bus_message* pidReply = nullptr;
      uint32_t pid = 0;
      if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                             "org.freedesktop.DBus", "GetConnectionUnixProcessID", nullptr,
                             &pidReply, "s", text.c_str()) >= 0) {
        client::MessagePtr ownedPid(pidReply);
        if (sd_bus_message_read(pidReply, "u", &pid) >= 0 && pid == uint32_t(getpid())) {
          names.push_back(text);
        }
      }
    }
    free(all);
    return names;
  }
  // Sends `member` of interface `interface` on `path` from `from` to `to` alone.
  template <typename... Args>
  static void sendSignal(sd_bus* from, const std::string& to, const std::string& path,
                         const char* interface, const char* member, const char* signature,
                         Args... args) {
    sd_bus_message* raw = nullptr;
    ASSERT_GE(sd_bus_message_new_signal(from, &raw, path.c_str(), interface, member), 0);
    client::MessagePtr signal(raw);
    ASSERT_GE(sd_bus_message_set_destination(raw, to.c_str()), 0);
    ASSERT_GE(sd_bus_message_append(raw, signature, args...), 0);
    ASSERT_GE(sd_bus_send(from, raw, nullptr), 0);
  }
};

// Someone says the hook's connection has gone, in the bus's words, to virt-scratchd alone,
// while the hook's Allocate is being built: the Allocate goes on and answers. (dbus-daemon
// refuses to pass the signal on under the project's policy, and says so in its log.)
TEST_F(DaemonForgedSignal, AForgedNameOwnerChangedCancelsNoAllocation) {
  startDaemon();
  client::BusPtr caller = openBus();
  client::BusPtr forger = openBus();
  std::string callerName = uniqueName(caller.get());
  std::string daemonName = ownerOf(forger.get(), "org.virtscratch.Scratch1");
  ASSERT_FALSE(daemonName.empty());

  // virt-scratchd is stopped so that the Allocate and then the forged signal wait in its socket
  // in that order: it reads the signal while the Allocate is being built on a worker.
  ASSERT_EQ(kill(daemon_->pid(), SIGSTOP), 0);
  struct Resume {
    pid_t pid;
    ~Resume() { kill(pid, SIGCONT); }
  } resume{daemon_->pid()};
  sd_bus_message* rawCall = nullptr;
  ASSERT_GE(sd_bus_message_new_method_call(caller.get(), &rawCall, "org.virtscratch.Scratch1",
                                           "/org/virtscratch/Scratch1",
                                           "org.virtscratch.Scratch1.Manager", "Allocate"),
            0);
  client::MessagePtr call(rawCall);
  ASSERT_GE(sd_bus_message_append(rawCall, "sa{sv}", kDomainA, 4, "size", "t", 512 * kMiB, "target",
                                  "s", "vdb", "format", "s", "raw", "filesystem", "s", "ext4"),
            0);
  client::MessagePtr reply;
  auto onReply = [](sd_bus_message* m, void* userdata, sd_bus_error*) -> int {
    static_cast<client::MessagePtr*>(userdata)->reset(sd_bus_message_ref(m));
    return 1;
  };
  sd_bus_slot* rawSlot = nullptr;
  ASSERT_GE(sd_bus_call_async(caller.get(), &rawSlot, rawCall, onReply, &reply, 120'000'000), 0);
  client::SlotPtr pending(rawSlot);
  pingBus(caller.get());
  sendSignal(forger.get(), daemonName, "/org/freedesktop/DBus", "org.freedesktop.DBus",
             "NameOwnerChanged", "sss", callerName.c_str(), callerName.c_str(), "");
  pingBus(forger.get());
  ASSERT_EQ(kill(daemon_->pid(), SIGCONT), 0);

  ASSERT_TRUE(processUntil(
      caller.get(), [&reply] { return reply != nullptr; }, seconds(60)))
      << "no answer to the Allocate";
  const sd_bus_error* error = sd_bus_message_get_error(reply.get());
  ASSERT_EQ(error, nullptr) << error->name << ": " << error->message << "\n" << daemonLog();
  const char* object = nullptr;
  const char* path = nullptr;
  ASSERT_GE(sd_bus_message_read(reply.get(), "os", &object, &path), 0);
  EXPECT_EQ(run({"e2fsck", "-fn", path}).exitCode, 0) << path;
}

// While `virt-scratch export --daemon` waits for its job, someone sends its connection the job's
// Completed saying it failed, and the bus's NameOwnerChanged saying virt-scratchd has gone. The
// client library goes on waiting, and the export ends as the daemon says: complete.
TEST_F(DaemonForgedSignal, AForgedCompletedOrOwnerChangeDoesNotEndAnExport) {
  startDaemon();
  auto made = client::ScratchClient::connect();
  ASSERT_TRUE(made.ok()) << made.status().message();
  std::unique_ptr<client::ScratchClient> scratch = std::move(*made);
  vocabulary::SpecMap spec{{"size", uint64_t{256} * kMiB},
                           {"format", std::string("raw")},
                           {"filesystem", std::string("ext4")},
                           {"target", std::string("vdb")}};
  auto image = scratch->allocate(kDomainA, spec);
  ASSERT_TRUE(image.ok()) << image.status().message();
  int ends[2];
  ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
  UniqueFd readEnd(ends[0]);
  UniqueFd writeEnd(ends[1]);
  auto exported = std::async(
      std::launch::async, [&] { return scratch->exportImage(image->object, writeEnd.get(), {}); });
  // The first bytes in the pipe: the job runs, and it stops once the pipe is full (the gzip of
  // the image is larger), so it cannot end before the forged signals are in the client's socket.
  struct pollfd ready = {readEnd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&ready, 1, 60'000), 1) << "the export wrote nothing";
  writeEnd.reset();  // the daemon holds its own copy: the pipe ends when it closes it

  client::BusPtr forger = openBus();
  std::string forgerName = uniqueName(forger.get());
  std::string daemonName = ownerOf(forger.get(), "org.virtscratch.Scratch1");
  std::vector<std::string> victims = ownConnections(forger.get(), forgerName);
  ASSERT_FALSE(victims.empty());
  for (const std::string& victim : victims) {
    for (int job = 1; job <= 16; ++job) {
      sendSignal(forger.get(), victim, "/org/virtscratch/Scratch1/job/" + std::to_string(job),
                 "org.virtscratch.Scratch1.Job", "Completed", "bs", 0, "forged");
    }
    sendSignal(forger.get(), victim, "/org/freedesktop/DBus", "org.freedesktop.DBus",
               "NameOwnerChanged", "sss", "org.virtscratch.Scratch1", daemonName.c_str(), "");
  }
  pingBus(forger.get());  // every forged signal is in the victims' sockets, before Completed

  std::string gz;
  char buffer[65536];
  while (true) {
    ssize_t n = read(readEnd.get(), buffer, sizeof(buffer));
    ASSERT_GE(n, 0) << std::strerror(errno);
    if (n == 0) break;
    gz.append(buffer, static_cast<size_t>(n));
  }
  ASSERT_EQ(exported.wait_for(seconds(60)), std::future_status::ready);
  Status result = exported.get();
  ASSERT_TRUE(result.ok()) << result.message();
  std::string file = dir_->file("export.gz");
  writeFileAt(file, 0, gz);
  auto unpacked = run({"gzip", "-dc", file});
  ASSERT_EQ(unpacked.exitCode, 0) << unpacked.err;
  EXPECT_TRUE(unpacked.out == readFile(image->path)) << "the export is not the image";
}

}  // namespace
}  // namespace virtscratch::test
