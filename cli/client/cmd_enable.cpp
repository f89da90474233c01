// virt-scratch enable / disable: give a libvirt domain a scratch disk in its persistent
// definition, or take it away (cli/client/domain_edit.h), talking to libvirt directly and to
// virt-scratchd for the pool's path and to release images.
#include <cstdio>
#include <optional>
#include <string>

#include "cli/args.h"
#include "cli/client/domain_edit.h"
#include "cli/commands.h"
#include "client/scratch_client.h"
#include "image/size.h"
#include "vocabulary/discard.h"
#include "vocabulary/image_id.h"
#include "vocabulary/target.h"

namespace virtscratch::cli {
namespace {

constexpr char kEnableUsage[] =
    "Usage: virt-scratch enable DOMAIN (--size SIZE | --size-per-vcpu SIZE) [OPTIONS]\n"
    "\n"
    "Give DOMAIN (a libvirt domain name or UUID) a scratch disk: writes it into the domain's\n"
    "persistent definition, so it takes effect at the domain's next start. With --attach boot\n"
    "(the default) the definition gets a <disk> whose file virt-scratchd makes before QEMU opens\n"
    "it (the libvirt hook asks for it); with --attach hotplug virt-scratchd attaches the disk\n"
    "once the domain runs. Enabling a target again replaces its disk. virt-scratchd must be\n"
    "running (the disk's path is in its pool).\n"
    "\n"
    "Options:\n"
    "  --size SIZE            virtual size: bytes, or with K, M, G, T, P (1K = 1024)\n"
    "  --size-per-vcpu SIZE   size per vCPU of the domain, instead of --size\n"
    "  --format F             raw or qcow2 (default qcow2)\n"
    "  --filesystem F         none, ext2, ext3, ext4, xfs, btrfs, vfat or swap (default ext4)\n"
    "  --label L              filesystem label (and GPT partition name)\n"
    "  --partition P          none, mbr or gpt (default none)\n"
    "  --target T             guest device name, [a-z0-9] (default vdb)\n"
    "  --attach A             boot (default) or hotplug\n"
    "  --lifetime L           boot (removed when the domain stops; default), domain (kept until\n"
    "                         it is undefined) or manual (until released)\n"
    "  --encrypt              LUKS-encrypt the disk with a key that lives only as long as its\n"
    "                         image (a libvirt secret): a qcow2 with LUKS, or raw LUKS\n"
    "  --no-encrypt           do not, whatever virt-scratchd's [pool] encryption says (by\n"
    "                         default a boot disk follows it)\n"
    "  --discard D            unmap: the blocks the guest frees (fstrim) go back to the host;\n"
    "                         ignore: they stay allocated (default: virt-scratchd's [pool]\n"
    "                         discard)\n"
    "  --connect URI          libvirt URI (default $LIBVIRT_DEFAULT_URI, else qemu:///system)\n"
    "  -h, --help             show this help\n";

constexpr char kDisableUsage[] =
    "Usage: virt-scratch disable DOMAIN [--target T] [--connect URI]\n"
    "\n"
    "Take DOMAIN's scratch disk of target T (all of them without --target) out of its\n"
    "persistent definition, and release the images in virt-scratchd. The image of a running\n"
    "domain is left until it stops.\n"
    "\n"
    "Options:\n"
    "  --target T      the scratch disk's guest device name\n"
    "  --connect URI   libvirt URI (default $LIBVIRT_DEFAULT_URI, else qemu:///system)\n"
    "  -h, --help      show this help\n";

constexpr OptionSpec kEnableOptions[] = {
    {"size", true},     {"size-per-vcpu", true}, {"format", true},   {"filesystem", true},
    {"label", true},    {"partition", true},     {"target", true},   {"attach", true},
    {"lifetime", true}, {"connect", true},       {"encrypt", false}, {"no-encrypt", false},
    {"discard", true},
};
constexpr OptionSpec kDisableOptions[] = {{"target", true}, {"connect", true}};

Result<vocabulary::ScratchDisk> diskFromArgs(const Args& args) {
  vocabulary::ScratchDisk disk;
  auto size = args.get("size");
  auto perVcpu = args.get("size-per-vcpu");
  if (size.has_value() == perVcpu.has_value()) {
    return invalidArgument("give one of --size and --size-per-vcpu");
  }
  if (size) {
    VS_ASSIGN_OR_RETURN(disk.size, image::parseSize(*size));
  } else {
    VS_ASSIGN_OR_RETURN(disk.sizePerVcpu, image::parseSize(*perVcpu));
  }
  if (auto v = args.get("format")) {
    VS_ASSIGN_OR_RETURN(disk.format, image::parseImageFormat(*v));
  }
  if (auto v = args.get("filesystem")) {
    VS_ASSIGN_OR_RETURN(disk.filesystem, image::parseFilesystem(*v));
  }
  if (auto v = args.get("label")) disk.label = *v;
  if (auto v = args.get("partition")) {
    VS_ASSIGN_OR_RETURN(disk.partition, image::parsePartitionTable(*v));
  }
  if (auto v = args.get("target")) disk.target = *v;
  VS_RETURN_IF_ERROR(vocabulary::validateTarget(disk.target));
  if (auto v = args.get("attach")) {
    VS_ASSIGN_OR_RETURN(disk.attach, vocabulary::parseAttach(*v));
  }
  if (auto v = args.get("lifetime")) {
    VS_ASSIGN_OR_RETURN(disk.lifetime, vocabulary::parseLifetime(*v));
  }
  if (args.has("encrypt") && args.has("no-encrypt")) {
    return invalidArgument("give one of --encrypt and --no-encrypt");
  }
  if (args.has("encrypt")) disk.encryption = image::Encryption::kLuks;
  if (args.has("no-encrypt")) disk.encryption = image::Encryption::kNone;
  if (auto v = args.get("discard")) {
    auto discard = vocabulary::parseDiscard(*v);
    if (!discard.ok()) return discard.status().withContext("--discard");
    disk.discard = *discard;
  }
  return disk;
}

Result<client::PoolInfo> daemonPool() {
  VS_ASSIGN_OR_RETURN(auto client, client::ScratchClient::connect());
  return client->status();
}

}  // namespace

int runEnable(std::span<char* const> argv) {
  auto args = parseArgs(argv, kEnableOptions);
  if (auto exit = endEarly("enable", args, kEnableUsage)) return *exit;
  if (args->positional.size() != 1) return usageError("enable", "give one domain (name or UUID)");
  auto disk = diskFromArgs(*args);
  if (!disk.ok()) return usageError("enable", disk.status().message());
  std::string pool;
  if (disk->attach == vocabulary::Attach::kBoot) {
    auto info = daemonPool();
    if (!info.ok()) {
      return failure("enable", Status(info.status().code(),
                                      "cannot ask virt-scratchd for its pool's path, which the "
                                      "disk's file is in: " +
                                          info.status().message()));
    }
    pool = info->path;
    // A boot disk's <disk> element says how QEMU opens it, so the host's default is settled now.
    if (!disk->encryption) {
      auto hostDefault = image::parseEncryption(info->defaultEncryption);
      disk->encryption = hostDefault.ok() ? *hostDefault : image::Encryption::kNone;
    }
    if (!disk->discard) {
      auto hostDefault = vocabulary::parseDiscard(info->defaultDiscard);
      // A daemon from before discard existed: its disks never had it.
      disk->discard = hostDefault.ok() && *hostDefault;
    }
  }
  auto conn = openLibvirt(args->get("connect"));
  if (!conn.ok()) return failure("enable", conn.status());
  auto edited = enableScratchDisk(conn->get(), args->positional[0], *disk, pool);
  if (!edited.ok()) return failure("enable", edited.status());
  std::printf("domain %s: scratch disk %s (%s, attach %s, lifetime %s)%s\n", edited->name.c_str(),
              disk->target.c_str(),
              disk->size != 0 ? image::formatSize(disk->size).c_str()
                              : (image::formatSize(disk->sizePerVcpu) + " per vCPU").c_str(),
              std::string(vocabulary::toString(disk->attach)).c_str(),
              std::string(vocabulary::toString(disk->lifetime)).c_str(),
              edited->running ? "; it takes effect when the domain next starts" : "");
  return kExitOk;
}

int runDisable(std::span<char* const> argv) {
  auto args = parseArgs(argv, kDisableOptions);
  if (auto exit = endEarly("disable", args, kDisableUsage)) return *exit;
  if (args->positional.size() != 1) return usageError("disable", "give one domain (name or UUID)");
  std::optional<std::string> target = args->get("target");
  if (target) {
    if (Status s = vocabulary::validateTarget(*target); !s.ok()) {
      return usageError("disable", s.message());
    }
  }
  auto conn = openLibvirt(args->get("connect"));
  if (!conn.ok()) return failure("disable", conn.status());
  auto edited = disableScratchDisks(conn->get(), args->positional[0], target);
  if (!edited.ok()) return failure("disable", edited.status());
  for (const std::string& t : edited->targets) {
    std::printf("domain %s: scratch disk %s removed from the definition\n", edited->name.c_str(),
                t.c_str());
  }
  if (edited->running) {
    std::printf(
        "domain %s is running: its images stay until it stops (lifetime boot); release "
        "others afterwards with virt-scratch release\n",
        edited->name.c_str());
    return kExitOk;
  }
  auto client = client::ScratchClient::connect();
  if (!client.ok()) return failure("disable", client.status());
  for (const std::string& t : edited->targets) {
    std::string id = vocabulary::imageIdOf(edited->uuid, t);
    // The domain is not running (see above): no force needed.
    Status status = (*client)->releaseImage(id, false);
    if (status.code() == ErrorCode::kNotFound) continue;  // never made, or released already
    if (!status.ok()) {
      return failure("disable",
                     Status(status.code(), "the definition changed, but image " + id +
                                               " was not released: " + status.message()));
    }
    std::printf("released %s\n", id.c_str());
  }
  return kExitOk;
}

}  // namespace virtscratch::cli
