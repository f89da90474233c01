// What libvirt asks of the hook. libvirt runs every executable in hooks/qemu.d/ as
// `virt-scratch <domain name> <operation> <sub-operation> <extra>` with the domain XML on stdin,
// and waits for it (and for its stdout and stderr to close) before going on. Only three calls
// matter here; everything else returns at once without reading stdin or touching the bus
// (libvirt ignores EPIPE on a hook's stdin, and libvirtd ignores SIGPIPE).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace virtscratch::hook {

enum class HookAction {
  kPrepare,  // "prepare begin": make the attach='boot' images before QEMU opens them
  kRelease,  // "release end": the domain is gone; release its lifetime='boot' images
  // "migrate begin", on the destination of a live migration, before any memory is copied: make
  // the scratch images the incoming domain has attached, empty, for the storage copy to fill.
  // What the hook prints on stdout would replace the domain's XML: it prints nothing there.
  kMigrate,
  kNone,     // anything else
  kVersion,  // `virt-scratch-hook --version`, by hand: prints the version
};

struct HookRequest {
  std::string domainName;
  HookAction action = HookAction::kNone;
};

// argv as libvirt gives it (argv[0] included); fails (a usage error) with fewer than 4 entries,
// but for a lone --version.
Result<HookRequest> parseHookArgs(int argc, const char* const* argv);

// Reads all of stdin, at most `limit` bytes; more is an error naming the limit.
Result<std::string> readAllStdin(size_t limit);

// `text` on one line: newlines and other control characters become spaces, so the one line
// libvirt shows the user stays one line; past 3000 bytes the middle is left out (its first and
// last 1000 bytes stay), so that a huge value quoted by an error cannot flood libvirt's log.
std::string oneLine(std::string_view text);

}  // namespace virtscratch::hook
