// virt-scratch key: writes an encrypted image's passphrase, which virt-scratchd hands to root as
// a file descriptor, into a new file only its owner reads: the key never passes through a
// terminal, an argument or an environment variable.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "client/scratch_client.h"
#include "client/utf8.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch key IMAGE --output FILE\n"
    "\n"
    "Write the passphrase of an encrypted image of virt-scratchd (IMAGE: an image id as\n"
    "'virt-scratch list' shows it, or its object path) into FILE, made new with mode 0600.\n"
    "Only root gets it, and only from a daemon without libvirt: with libvirt the key is a\n"
    "private libvirt secret that libvirt gives to QEMU alone. Open the image with\n"
    "  qemu-img info --object secret,id=k,file=FILE --image-opts \\\n"
    "    driver=qcow2,file.filename=IMAGE-FILE,encrypt.key-secret=k\n"
    "\n"
    "Options:\n"
    "  --output FILE  the new file (it must not exist)\n"
    "  -h, --help     show this help\n";

constexpr OptionSpec kOptions[] = {{"output", true}};

Status copyKey(int from, const std::string& output) {
  UniqueFd out(open(output.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return errnoStatus("creating '" + output + "'", errno);
  std::vector<char> key(4096);
  uint64_t at = 0;
  for (;;) {
    ssize_t n = pread(from, key.data(), key.size(), static_cast<off_t>(at));
    if (n < 0) return errnoStatus("reading the key", errno);
    if (n == 0) break;
    Status written = writeAll(out.get(), key.data(), static_cast<size_t>(n), at);
    std::fill(key.begin(), key.end(), '\0');
    if (!written.ok()) {
      unlink(output.c_str());
      return written.withContext("writing '" + output + "'");
    }
    at += static_cast<uint64_t>(n);
  }
  if (fsync(out.get()) != 0) {
    unlink(output.c_str());
    return errnoStatus("writing '" + output + "'", errno);
  }
  return {};
}

}  // namespace

int runKey(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("key", args, kUsage)) return *exit;
  if (args->positional.size() != 1) return usageError("key", "give one image");
  auto output = args->get("output");
  if (!output) return usageError("key", "give the file to write the key into with --output FILE");
  const std::string& image = args->positional[0];
  if (Status s = client::requireUtf8("the image", image); !s.ok()) {
    return usageError("key", s.message());
  }
  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("key", client.status());
  auto key = (*client)->openKey(image);
  if (!key.ok()) return failure("key", key.status());
  if (Status s = copyKey(key->get(), *output); !s.ok()) return failure("key", s);
  std::printf("wrote the key of %s to %s\n", image.c_str(), output->c_str());
  return kExitOk;
}

}  // namespace virtscratch::cli
