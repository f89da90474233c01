// The subcommands of virt-scratch. Each takes the arguments after its name and returns the exit
// status: 0 success, 1 failure, 2 usage error.
#pragma once

#include <span>

namespace virtscratch::cli {

int runCreate(std::span<char* const> args);
int runInfo(std::span<char* const> args);
int runExport(std::span<char* const> args);
int runImport(std::span<char* const> args);
int runClone(std::span<char* const> args);
int runResize(std::span<char* const> args);

// Client commands: they talk to virt-scratchd on the system bus (DBUS_SYSTEM_BUS_ADDRESS is
// honoured). Implemented in cli/client/.
int runAllocate(std::span<char* const> args);
int runRelease(std::span<char* const> args);
int runKey(std::span<char* const> args);
int runList(std::span<char* const> args);
int runShow(std::span<char* const> args);
int runStatus(std::span<char* const> args);
int runMetrics(std::span<char* const> args);
// `virt-scratch export --daemon IMAGE-ID DEST`: the daemon exports, the CLI follows the Job.
int runDaemonExport(std::span<char* const> args);
// `virt-scratch enable|disable DOMAIN`: a scratch disk in a libvirt domain's persistent
// definition (libvirt API), its images released through virt-scratchd.
int runEnable(std::span<char* const> args);
int runDisable(std::span<char* const> args);

}  // namespace virtscratch::cli
