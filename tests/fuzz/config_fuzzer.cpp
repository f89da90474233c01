// Fuzzes the daemon's configuration reader with arbitrary files: it must never crash, and every
// refusal must say why.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "daemon/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace virtscratch;
  static const std::string path = [] {
    char dir[] = "/tmp/virt-scratch-config-fuzz-XXXXXX";
    if (mkdtemp(dir) == nullptr) std::abort();
    return std::string(dir) + "/virt-scratchd.conf";
  }();
  {
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) std::abort();
    if (size > 0 && !writeAll(fd.get(), data, size, 0).ok()) std::abort();
  }
  auto config = daemon::loadConfig(path);
  if (!config.ok() && config.status().message().empty()) std::abort();
  return 0;
}
