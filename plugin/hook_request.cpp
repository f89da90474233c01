#include "plugin/hook_request.h"

#include <unistd.h>

#include <cerrno>

namespace virtscratch::hook {

Result<HookRequest> parseHookArgs(int argc, const char* const* argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--version") {
    return HookRequest{.domainName = {}, .action = HookAction::kVersion};
  }
  if (argc < 4) {
    return invalidArgument(
        "usage: virt-scratch DOMAIN OPERATION SUB-OPERATION [EXTRA] (libvirt runs this hook "
        "from hooks/qemu.d/ with the domain XML on stdin; it is not meant to be run by hand)");
  }
  HookRequest request;
  request.domainName = argv[1];
  std::string_view operation = argv[2];
  std::string_view sub = argv[3];
  if (operation == "prepare" && sub == "begin") {
    request.action = HookAction::kPrepare;
  } else if (operation == "release" && sub == "end") {
    request.action = HookAction::kRelease;
  } else if (operation == "migrate" && sub == "begin") {
    request.action = HookAction::kMigrate;
  }
  return request;
}

Result<std::string> readAllStdin(size_t limit) {
  std::string out;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoStatus("cannot read the domain XML on stdin", errno);
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > limit) {
      return invalidArgument("the domain XML on stdin is longer than " + std::to_string(limit) +
                             " bytes, which is refused");
    }
    out.append(buffer, static_cast<size_t>(n));
  }
}

std::string oneLine(std::string_view text) {
  // A hostile definition can put megabytes into a value that an error quotes.
  std::string out = elided(text, 1000);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

}  // namespace virtscratch::hook
