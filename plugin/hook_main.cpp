// virt-scratch-hook, installed as <sysconfdir>/libvirt/hooks/qemu.d/virt-scratch. libvirt runs it
// at every step of every domain's life and waits for it, so it returns at once unless the step is
// "prepare begin" (make the attach='boot' scratch images before QEMU opens them), "release end"
// (release the lifetime='boot' images) or "migrate begin" (on the destination of a live
// migration: make the attached scratch images empty for the storage copy), and unless the domain
// has scratch disks at all. It never
// calls libvirt (that would deadlock the domain's start), starts no process, and on failure
// prints one line on stderr, which libvirt shows the user, and exits 1; with [hook] fail=open it
// logs the reason and exits 0 so the domain starts without its scratch disk.
#include <syslog.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "client/scratch_client.h"
#include "plugin/hook_config.h"
#include "plugin/hook_request.h"
#include "plugin/hook_watchdog.h"
#include "vocabulary/disk_sources.h"
#include "vocabulary/pool_layout.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::hook {
namespace {

using client::Clock;
using client::ScratchClient;
using vocabulary::HookFailMode;

constexpr char kDefaultConfig[] = "/etc/virt-scratch/virt-scratchd.conf";
constexpr size_t kMaxInput = size_t{4} << 20;  // as the metadata reader accepts
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::string configPath() {
  const char* env = std::getenv("VIRT_SCRATCH_CONFIG");
  return env != nullptr && *env != '\0' ? env : kDefaultConfig;
}

int failClosed(std::string_view line) {
  std::fprintf(stderr, "virt-scratch: %s\n", oneLine(line).c_str());
  return kExitFailed;
}

// The daemon's failures follow [hook] fail; the user's own mistakes (bad metadata) always fail.
int failAsConfigured(const HookConfig& config, std::string_view line) {
  if (config.fail == HookFailMode::kClosed) return failClosed(line);
  std::string text = oneLine(line) + " (fail=open: going on without it)";
  std::fprintf(stderr, "virt-scratch: warning: %s\n", text.c_str());
  openlog("virt-scratch-hook", LOG_PID, LOG_DAEMON);
  syslog(LOG_WARNING, "%s", text.c_str());
  closelog();
  return kExitOk;
}

// What the watchdog says and returns if anything still hangs past the deadline (the client library
// holds every call, the bus's authentication included, to it; this is the last resort): the same
// as a daemon that does not answer. A little after the calls' own deadline, so that their more
// precise errors win.
void armWatchdogFor(const HookConfig& config, const std::string& what,
                    const std::string& configFile) {
  constexpr auto kGrace = std::chrono::milliseconds(250);
  std::string reason = what + "the system bus or virt-scratchd did not answer within " +
                       std::to_string(config.timeoutMs) + " ms ([hook] timeout)";
  bool open = config.fail == HookFailMode::kOpen;
  std::string line =
      open ? "virt-scratch: warning: " + oneLine(reason) + " (fail=open: going on without it)"
           : "virt-scratch: " + oneLine(reason) +
                 "; check that dbus-daemon and virt-scratchd run, or set [hook] fail=open in " +
                 configFile + " to start domains without their scratch disks";
  armWatchdog(std::chrono::milliseconds(config.timeoutMs) + kGrace, line,
              open ? kExitOk : kExitFailed);
}

std::string hintFor(const Status& status, const std::string& config) {
  if (status.code() == ErrorCode::kInvalidArgument) {
    return "; correct the domain's scratch metadata (virt-scratch enable, or virsh edit)";
  }
  return "; check that virt-scratchd runs (systemctl status virt-scratchd), or set [hook] "
         "fail=open in " +
         config + " to start domains without their scratch disks";
}

int prepare(const std::string& xml, const vocabulary::DomainScratch& scratch,
            const HookConfig& config, const std::string& configFile) {
  auto deadline = Clock::now() + std::chrono::milliseconds(config.timeoutMs);
  std::string who = " for domain '" + scratch.name + "'";
  auto sources = vocabulary::diskSources(xml);
  if (!sources.ok()) {
    return failClosed("domain '" + scratch.name + "': " + sources.status().message());
  }
  armWatchdogFor(config, "cannot make the scratch disks" + who + ": ", configFile);
  auto client = ScratchClient::connect({.deadline = deadline});
  if (!client.ok()) {
    return failAsConfigured(config, "cannot make the scratch disks" + who + ": " +
                                        client.status().message() +
                                        hintFor(client.status(), configFile));
  }
  int exitCode = kExitOk;
  for (const vocabulary::ScratchDisk& disk : scratch.disks) {
    if (disk.attach != vocabulary::Attach::kBoot) continue;
    std::string what = "cannot make scratch disk " + disk.target + who + ": ";
    // One round trip: Allocate's reply carries the file's path.
    vocabulary::AllocateSpec spec = vocabulary::allocateSpecOf(disk, scratch.vcpus);
    spec.origin = "hook";
    auto allocated = (*client)->allocate(scratch.uuid, spec);
    if (!allocated.ok()) {
      exitCode = failAsConfigured(
          config, what + allocated.status().message() + hintFor(allocated.status(), configFile));
      if (exitCode != kExitOk) return exitCode;
      continue;
    }
    const std::string* path = &allocated->path;
    auto source = sources->find(disk.target);
    if (source != sources->end() && !vocabulary::sameImagePath(source->second, *path)) {
      exitCode = failAsConfigured(
          config, what + "the domain's <disk> for " + disk.target + " uses '" + source->second +
                      "' but virt-scratchd made the image at '" + *path +
                      "'; run 'virt-scratch enable' again to point the disk at the pool");
      if (exitCode != kExitOk) return exitCode;
    }
  }
  return exitCode;
}

// The incoming domain's scratch disks that it has attached (its <devices> name their target), made
// empty with the size, format and encryption they have on the source, for the storage copy
// (virsh migrate --copy-storage-all) to fill. Always fails closed: a migration that went on
// without its disk would give the guest an empty one in place of the one it has mounted. On a
// failure the images this call made are released again, and the one line names the disk.
int migrateIn(const std::string& xml, const vocabulary::DomainScratch& scratch,
              const HookConfig& config, const std::string& configFile) {
  HookConfig closed = config;
  closed.fail = HookFailMode::kClosed;
  auto deadline = Clock::now() + std::chrono::milliseconds(config.timeoutMs);
  std::string who = "cannot take in domain '" + scratch.name + "' by migration: ";
  auto sources = vocabulary::diskSources(xml);
  auto luks = vocabulary::luksDiskTargets(xml);
  if (!sources.ok()) return failClosed(who + sources.status().message());
  if (!luks.ok()) return failClosed(who + luks.status().message());
  armWatchdogFor(closed, who, configFile);
  auto client = ScratchClient::connect({.deadline = deadline});
  if (!client.ok()) {
    return failClosed(who + client.status().message() + "; check that virt-scratchd runs on " +
                      "this host (systemctl status virt-scratchd)");
  }
  std::vector<std::string> made;  // the Image objects
  auto refuse = [&](const std::string& line) {
    for (const std::string& object : made) (void)(*client)->releaseImage(object, true);
    return failClosed(who + line);
  };
  for (const vocabulary::ScratchDisk& disk : scratch.disks) {
    auto source = sources->find(disk.target);
    if (source == sources->end()) continue;  // not attached on the source: nothing to copy
    vocabulary::AllocateSpec spec = vocabulary::allocateSpecOf(disk, scratch.vcpus);
    spec.image.encryption =
        luks->count(disk.target) != 0 ? image::Encryption::kLuks : image::Encryption::kNone;
    spec.encryptionGiven = true;
    spec.incoming = true;
    spec.origin = "hook";
    auto allocated = (*client)->allocate(scratch.uuid, spec);
    if (!allocated.ok()) {
      return refuse("scratch disk " + disk.target + ": " + allocated.status().message());
    }
    made.push_back(allocated->object);
    if (!vocabulary::sameImagePath(source->second, allocated->path)) {
      return refuse("scratch disk " + disk.target + ": the domain's <disk> uses '" +
                    source->second + "' but this host's virt-scratchd keeps it at '" +
                    allocated->path + "'; give both hosts the same [pool] path");
    }
  }
  return kExitOk;
}

int release(const vocabulary::DomainScratch& scratch, const HookConfig& config,
            const std::string& configFile) {
  auto deadline = Clock::now() + std::chrono::milliseconds(config.timeoutMs);
  std::string what = "cannot release the scratch disks of domain '" + scratch.name + "': ";
  armWatchdogFor(config, what, configFile);
  auto client = ScratchClient::connect({.deadline = deadline});
  if (!client.ok()) {
    return failAsConfigured(
        config, what + client.status().message() + hintFor(client.status(), configFile));
  }
  // One call per VM. force: at `release end` the domain has stopped, and asking libvirt whether
  // it runs would wait for the domain's lock, which libvirtd holds while this hook runs.
  auto released = (*client)->releaseDomain(
      scratch.uuid, {.force = true, .lifetimes = {vocabulary::Lifetime::kBoot}, .origin = "hook"});
  if (!released.ok()) {
    return failAsConfigured(
        config, what + released.status().message() + hintFor(released.status(), configFile));
  }
  return kExitOk;
}

int run(int argc, const char* const* argv) {
  auto request = parseHookArgs(argc, argv);
  if (!request.ok()) {
    std::fprintf(stderr, "virt-scratch: %s\n", request.status().message().c_str());
    return kExitUsage;
  }
  if (request->action == HookAction::kNone) return kExitOk;
  if (request->action == HookAction::kVersion) {
    std::printf("virt-scratch-hook %s\n", VIRTSCRATCH_VERSION);
    return kExitOk;
  }

  const std::string& name = request->domainName;
  auto xml = readAllStdin(kMaxInput);
  if (!xml.ok()) return failClosed("domain '" + name + "': " + xml.status().message());
  auto scratch = vocabulary::parseDomainXml(*xml);
  if (!scratch.ok()) {
    return failClosed("cannot read the scratch disks of domain '" + name +
                      "': " + scratch.status().message() +
                      "; correct its metadata (virt-scratch enable, or virsh edit)");
  }
  // Most domains have no scratch disks: they never wait for the configuration or the bus.
  bool anyBoot = false;
  for (const auto& disk : scratch->disks)
    anyBoot = anyBoot || disk.attach == vocabulary::Attach::kBoot;
  if (scratch->disks.empty() || (request->action == HookAction::kPrepare && !anyBoot)) {
    return kExitOk;
  }

  std::string configFile = configPath();
  auto config = loadHookConfig(configFile);
  if (!config.ok()) {
    return failClosed("cannot read the configuration for domain '" + name +
                      "': " + config.status().message());
  }
  switch (request->action) {
    case HookAction::kPrepare:
      return prepare(*xml, *scratch, *config, configFile);
    case HookAction::kMigrate:
      return migrateIn(*xml, *scratch, *config, configFile);
    case HookAction::kRelease:
    case HookAction::kNone:
    case HookAction::kVersion:
      break;
  }
  return release(*scratch, *config, configFile);
}

}  // namespace
}  // namespace virtscratch::hook

// Anything thrown (out of memory, an unexpected bus exception) still ends as one line and a
// failure, never as an abort with a core dump in the middle of a domain's start.
int main(int argc, char** argv) {
  try {
    return virtscratch::hook::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "virt-scratch: internal error: %s\n",
                 virtscratch::hook::oneLine(e.what()).c_str());
  } catch (...) {
    std::fprintf(stderr, "virt-scratch: internal error\n");
  }
  return 1;
}
