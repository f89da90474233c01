// virt-scratch create: the engine's createImage behind a command line.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/key_file.h"
#include "cli/progress_bar.h"
#include "image/creator.h"
#include "image/size.h"

namespace virtscratch::cli {
namespace {

constexpr char kUsage[] =
    "Usage: virt-scratch create --size SIZE [OPTIONS] PATH\n"
    "\n"
    "Make a scratch disk image at PATH, formatted and optionally pre-filled. The image is built\n"
    "unnamed beside PATH and appears only when complete; on any error nothing is left.\n"
    "\n"
    "Options:\n"
    "  --size SIZE            virtual size: bytes, or with K, M, G, T, P (1K = 1024); required\n"
    "  --format F             raw or qcow2 (default qcow2)\n"
    "  --filesystem F         none, ext2, ext3, ext4, xfs, btrfs, vfat or swap (default ext4)\n"
    "  --label L              filesystem label (and GPT partition name)\n"
    "  --uuid U               filesystem UUID (vfat: volume id XXXX-XXXX); default random\n"
    "  --partition P          none, mbr or gpt (default none)\n"
    "  --preallocation P      off, metadata (qcow2), falloc or full (default off)\n"
    "  --content DIR          copy DIR's files into the new filesystem\n"
    "  --encrypt E            none or luks (default none): LUKS as QEMU opens it (a qcow2 with\n"
    "                         encrypt.format=luks, or with --format raw a raw LUKS image)\n"
    "  --key-file FILE        with --encrypt luks: the passphrase is FILE's bytes, all of them\n"
    "                         (no newline is stripped), UTF-8 text as QEMU wants it; make one\n"
    "                         with head -c 32 /dev/urandom | base64 -w0 > FILE\n"
    "  --force                replace PATH if it exists\n"
    "  --progress             show progress even when stderr is not a terminal\n"
    "  -h, --help             show this help\n";

constexpr OptionSpec kOptions[] = {
    {"size", true},   {"format", true},    {"filesystem", true},    {"label", true},
    {"uuid", true},   {"partition", true}, {"preallocation", true}, {"content", true},
    {"force", false}, {"progress", false}, {"encrypt", true},       {"key-file", true},
};

Result<image::ImageSpec> specFromArgs(const Args& args) {
  image::ImageSpec spec;
  auto size = args.get("size");
  if (!size) return invalidArgument("--size is required, for example --size 10G");
  VS_ASSIGN_OR_RETURN(spec.size, image::parseSize(*size));
  if (auto v = args.get("format")) {
    VS_ASSIGN_OR_RETURN(spec.format, image::parseImageFormat(*v));
  }
  if (auto v = args.get("filesystem")) {
    VS_ASSIGN_OR_RETURN(spec.filesystem, image::parseFilesystem(*v));
  }
  if (auto v = args.get("partition")) {
    VS_ASSIGN_OR_RETURN(spec.partition, image::parsePartitionTable(*v));
  }
  if (auto v = args.get("preallocation")) {
    VS_ASSIGN_OR_RETURN(spec.preallocation, image::parsePreallocation(*v));
  }
  spec.label = args.get("label").value_or("");
  spec.uuid = args.get("uuid").value_or("");
  spec.contentDir = args.get("content").value_or("");
  if (auto v = args.get("encrypt")) {
    VS_ASSIGN_OR_RETURN(spec.encryption, image::parseEncryption(*v));
  }
  bool luks = spec.encryption == image::Encryption::kLuks;
  if (luks && !args.get("key-file")) {
    return invalidArgument("--encrypt luks needs --key-file FILE, the passphrase of the image");
  }
  if (!luks && args.get("key-file")) {
    return invalidArgument("--key-file '" + *args.get("key-file") +
                           "' is only used with --encrypt luks");
  }
  return spec;
}

}  // namespace

int runCreate(std::span<char* const> argv) {
  auto args = parseArgs(argv, kOptions);
  if (auto exit = endEarly("create", args, kUsage)) return *exit;
  if (args->positional.size() != 1) {
    return usageError("create", args->positional.empty() ? "give the path of the image to make"
                                                         : "give exactly one image path");
  }
  auto spec = specFromArgs(*args);
  if (!spec.ok()) return usageError("create", spec.status().message());

  const std::string& path = args->positional[0];
  ProgressBar progress("create", args->has("progress"));
  image::CreateOptions options;
  options.force = args->has("force");
  options.progress = &progress;
  if (auto keyFile = args->get("key-file")) {
    auto key = readKeyFile(*keyFile);
    if (!key.ok()) return failure("create", key.status());
    options.passphrase = std::move(*key);
  }
  Status status = image::createImage(path, *spec, options);
  progress.finish();
  if (!status.ok()) return failure("create", status);
  return kExitOk;
}

}  // namespace virtscratch::cli
