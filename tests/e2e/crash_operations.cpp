// The crash test's operations: allocate, release, export, and domain starts and stops, each
// optionally with the daemon killed while it is in flight, and what happens while it is down.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/crash_recovery.h"

namespace virtscratch::test {

namespace fs = std::filesystem;

void CrashRecovery::defineVms() {
  struct Def {
    const char* suffix;
    bool hold;
    std::vector<std::string> enable;
  };
  std::vector<Def> defs = {
      {"a", true, {"--size", "64M", "--label", "scratch", "--lifetime", "boot"}},
      {"b",
       true,
       {"--size", "96M", "--format", "raw", "--label", "scratch", "--lifetime", "domain"}},
      {"c", false, {"--size", "64M", "--label", "scratch", "--lifetime", "boot"}},
  };
  for (const Def& d : defs) {
    Vm vm;
    vm.name = std::string("vs-e2e-crash-") + d.suffix;
    vm.hold = d.hold;
    vm.bootLifetime = std::find(d.enable.begin(), d.enable.end(), "domain") == d.enable.end();
    Guest guest;
    guest.hold = d.hold;
    ASSERT_NO_FATAL_FAILURE(defineDomain(vm.name, guest));
    std::vector<std::string> args = {"enable", vm.name};
    args.insert(args.end(), d.enable.begin(), d.enable.end());
    CommandResult r = cli(args);
    ASSERT_EQ(r.exitCode, 0) << "virt-scratch enable " << vm.name << ": " << r.err;
    vm.uuid = uuidOf(vm.name);
    vms_.push_back(vm);
  }
  ASSERT_NO_FATAL_FAILURE(defineDomain(kPaper, {}));
  paperUuid_ = uuidOf(kPaper);
}

CommandResult CrashRecovery::execute(const std::vector<std::string>& argv, bool kill,
                                     Trigger trigger, bool* interrupted,
                                     const std::string& console) {
  *interrupted = false;
  if (!kill) {
    CommandResult r = run(argv);
    trace(argv, r, "");
    return r;
  }
  watch_.watchPool(poolPath());
  watch_.drain();
  int events = 1 + static_cast<int>(pick(3));
  Child child(argv);
  auto fired = [&] {
    switch (trigger) {
      case Trigger::kAtOnce:
        return true;
      case Trigger::kPoolEvents:
        return watch_.count() >= events;
      case Trigger::kOutput:
        return !child.err().empty();
      case Trigger::kGuestBooted:
        return fileExists(console) && readFile(console).find("VS-BOOTED") != std::string::npos;
    }
    return true;
  };
  child.waitFor(watch_, fired, 60s);
  // A domain's start ends before its guest boots: wait for the guest, not for the child.
  if (trigger == Trigger::kGuestBooted && !fired()) pollUntil(fired, 60s);
  *interrupted = child.running();
  ++kills_[triggerName(trigger)];
  if (*interrupted) ++killsInFlight_;
  killDaemon();
  down_ = true;
  CommandResult r = child.finish(15s);
  trace(argv, r,
        std::string("killed the daemon at ") + triggerName(trigger) +
            (*interrupted ? ", in flight" : ", after it ended"));
  EXPECT_FALSE(child.hung()) << "'" << argv[0] << " " << (argv.size() > 1 ? argv[1] : "")
                             << "' did not end within 15 s of virt-scratchd's death: "
                             << testing::PrintToString(argv) << "\n"
                             << r.err;
  return r;
}

void CrashRecovery::trace(const std::vector<std::string>& argv, const CommandResult& r,
                          const std::string& how) {
  if (!trace_) return;
  std::string line = "[" + std::to_string(step_) + "]";
  for (size_t i = argv[0] == "virsh" ? 4 : 1; i < argv.size(); ++i) line += " " + argv[i];
  line += " -> " + std::to_string(r.exitCode);
  if (!how.empty()) line += " (" + how + ")";
  if (r.exitCode != 0) {
    std::string err = r.err;
    std::replace(err.begin(), err.end(), '\n', ' ');
    // libvirt puts the hook's own line last.
    line += ": " + (err.size() > 400 ? "..." + err.substr(err.size() - 400) : err);
  }
  std::fprintf(stderr, "%s\n", line.c_str());
}

void CrashRecovery::expectHooksMessage(const CommandResult& r, const std::string& vm) {
  // libvirt shows the hook's one line: it names the daemon and what could not be made.
  EXPECT_NE(r.err.find("virt-scratchd"), std::string::npos) << vm << ": " << r.err;
  EXPECT_NE(r.err.find("scratch disk"), std::string::npos) << vm << ": " << r.err;
  EXPECT_NE(domainState(vm), "running") << vm << " started without its scratch disk";
}

void CrashRecovery::allocate(bool kill, bool warm) {
  std::vector<std::string> domains = {paperUuid_};
  for (const Vm& vm : vms_) domains.push_back(vm.uuid);
  // A free slot (domain, target); vdb is the domains' boot disk.
  std::vector<Wanted> free;
  for (const std::string& d : domains) {
    for (char t = 'c'; t <= 'h'; ++t) {
      Wanted w{d, std::string("vd") + t, compactUuid(d) + "_vd" + t, ""};
      if (images_.count(w.id) == 0 && uncertain_.count(w.id) == 0) free.push_back(w);
    }
  }
  if (free.empty()) return release(kill);
  Wanted w = free[pick(free.size())];
  std::vector<const Spec*> choices;
  for (const Spec& s : specs()) {
    if (s.warm == warm) choices.push_back(&s);
  }
  const Spec& spec = *choices[pick(choices.size())];
  std::vector<std::string> argv = {VIRT_SCRATCH_BIN,
                                   "allocate",
                                   w.domain,
                                   "--target",
                                   w.target,
                                   "--lifetime",
                                   chance(50) ? "domain" : "manual"};
  argv.insert(argv.end(), spec.args.begin(), spec.args.end());
  bool raw = std::find(spec.args.begin(), spec.args.end(), "raw") != spec.args.end();
  w.path = poolPath() + "/" + w.domain + "/" + w.target + (raw ? ".raw" : ".qcow2");
  bool interrupted = false;
  Trigger trigger = chance(20) ? Trigger::kAtOnce : Trigger::kPoolEvents;
  CommandResult r = execute(argv, kill, trigger, &interrupted);
  ++done_[warm ? "allocate (warm spec)" : "allocate (cold spec)"];
  released_.erase(w.id);  // released earlier, made again now
  if (r.exitCode == 0) {
    images_[w.id] = w;
  } else if (kill) {
    uncertain_[w.id] = w;
  } else {
    ADD_FAILURE() << "allocate " << w.id << " failed with the daemon up: " << r.err;
  }
}

void CrashRecovery::release(bool kill) {
  std::vector<std::string> ids;
  for (const auto& [id, w] : images_) {
    if (w.target != "vdb") ids.push_back(id);
  }
  if (ids.empty()) return allocate(kill, true);
  std::string id = ids[pick(ids.size())];
  bool interrupted = false;
  Trigger trigger = chance(20) ? Trigger::kAtOnce : Trigger::kPoolEvents;
  CommandResult r = execute({VIRT_SCRATCH_BIN, "release", id}, kill, trigger, &interrupted);
  ++done_["release"];
  Wanted w = images_[id];
  images_.erase(id);
  if (r.exitCode == 0) {
    released_.insert(id);
  } else if (kill) {
    uncertain_[id] = w;
  } else {
    ADD_FAILURE() << "release " << id << " failed with the daemon up: " << r.err;
  }
}

void CrashRecovery::releasePaper(bool kill) {
  bool interrupted = false;
  CommandResult r =
      execute({VIRT_SCRATCH_BIN, "release", paperUuid_}, kill, Trigger::kPoolEvents, &interrupted);
  ++done_["release (a whole domain)"];
  for (auto it = images_.begin(); it != images_.end();) {
    if (it->second.domain != paperUuid_) {
      ++it;
      continue;
    }
    if (r.exitCode == 0) {
      released_.insert(it->first);
    } else {
      uncertain_[it->first] = it->second;
    }
    it = images_.erase(it);
  }
  if (r.exitCode != 0 && !kill) {
    ADD_FAILURE() << "release of domain " << kPaper << " failed with the daemon up: " << r.err;
  }
}

void CrashRecovery::exportImage(bool kill) {
  std::vector<std::string> ids;
  for (const auto& [id, w] : images_) {
    if (w.target != "vdb") ids.push_back(id);
  }
  if (ids.empty()) return allocate(kill, true);
  std::string id = ids[pick(ids.size())];
  std::string dest = exportDir_ + "/export-" + std::to_string(step_) + ".gz";
  bool interrupted = false;
  Trigger trigger = chance(50) ? Trigger::kOutput : Trigger::kAtOnce;
  CommandResult r = execute({VIRT_SCRATCH_BIN, "export", "--daemon", "--progress", id, dest}, kill,
                            trigger, &interrupted);
  ++done_["export"];
  if (r.exitCode == 0) {
    std::string problem = checkExport(dest, checker_->virtualSize(images_[id].path));
    EXPECT_EQ(problem, "") << "export of " << id;
    fs::remove(dest);
  } else if (kill) {
    pendingExports_.insert(dest);
  } else {
    ADD_FAILURE() << "export of " << id << " failed with the daemon up: " << r.err;
  }
}

void CrashRecovery::vmOperation(bool kill) {
  Vm& vm = vms_[pick(vms_.size())];
  std::string state = domainState(vm.name);
  bool interrupted = false;
  if (state == "running") {
    Trigger trigger = chance(50) ? Trigger::kAtOnce : Trigger::kPoolEvents;
    CommandResult r = execute({"virsh", "-q", "-c", "qemu:///system", "destroy", vm.name}, kill,
                              trigger, &interrupted);
    ++done_["domain stop"];
    // The guest of `c` may have powered off meanwhile.
    if (r.exitCode != 0) {
      EXPECT_EQ(domainState(vm.name), "shut off") << r.err;
    }
    vm.expectRunning = false;
    return;
  }
  std::string console = consolePath(vm.name);
  fs::remove(console);
  Trigger trigger = chance(60) ? Trigger::kPoolEvents : Trigger::kGuestBooted;
  CommandResult r = execute({"virsh", "-q", "-c", "qemu:///system", "start", vm.name}, kill,
                            trigger, &interrupted, console);
  ++done_["domain start"];
  if (r.exitCode == 0) {
    vm.expectRunning = true;
    if (!vm.bootLifetime) images_[vm.vdbId()] = {vm.uuid, "vdb", vm.vdbId(), ""};
    return;
  }
  vm.expectRunning = false;
  if (!kill) {
    ADD_FAILURE() << "start of " << vm.name << " failed with the daemon up: " << r.err;
    return;
  }
  ++startsInterrupted_;
  expectHooksMessage(r, vm.name);
  if (!vm.bootLifetime) uncertain_[vm.vdbId()] = {vm.uuid, "vdb", vm.vdbId(), ""};
}

// Domains started or stopped while the daemon is down: the hook fails closed at start; a stop
// is seen only by the next start's reconcile.
void CrashRecovery::whileDown() {
  Vm& vm = vms_[pick(vms_.size())];
  if (domainState(vm.name) == "running") {
    CommandResult r = virsh({"destroy", vm.name});
    trace({"virsh", "", "", "", "destroy", vm.name}, r, "daemon down");
    if (r.exitCode == 0) ++stoppedWhileDown_;
    vm.expectRunning = false;
    ++done_["domain stop (daemon down)"];
    return;
  }
  CommandResult r = virsh({"start", vm.name});
  trace({"virsh", "", "", "", "start", vm.name}, r, "daemon down");
  ++done_["domain start (daemon down)"];
  EXPECT_NE(r.exitCode, 0) << vm.name << " started while virt-scratchd was down";
  expectHooksMessage(r, vm.name);
  ++hookFailedClosed_;
}

void CrashRecovery::operation(bool kill) {
  ++step_;
  int r = static_cast<int>(pick(100));
  // More kills during domains' starts and stops than their share of the operations gives.
  if (r < 12 || (kill && r < 30)) return vmOperation(kill);
  if (r < 40) return allocate(kill, true);
  if (r < 52) return allocate(kill, false);
  if (r < 72) return release(kill);
  if (r < 75) return releasePaper(kill);
  return exportImage(kill);
}

}  // namespace virtscratch::test
