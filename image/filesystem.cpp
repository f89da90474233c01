#include "image/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "base/file_io.h"
#include "base/process.h"
#include "base/temp_file.h"
#include "base/unique_fd.h"
#include "image/content_tree.h"
#include "image/size.h"
#include "image/vfat_content.h"
#include "image/xfs_log.h"
#include "image/xfs_protofile.h"

namespace virtscratch::image {
namespace {

std::string fsName(Filesystem fs) { return std::string(toString(fs)); }

// "300 MiB", or the exact bytes when the short form would round.
std::string sizeText(uint64_t bytes) {
  std::string text = formatSize(bytes);
  if (text.find('.') != std::string::npos) {
    text = std::to_string(bytes) + " bytes (" + text + ")";
  }
  return text;
}

// Messages with which the tools say that the new filesystem itself is full (not the host disk).
bool saysContentDoesNotFit(std::string_view message) {
  return message.find("Could not allocate block") != std::string_view::npos ||
         message.find("Could not allocate inode") != std::string_view::npos ||
         message.find("cannot reserve space") != std::string_view::npos;
}

// Runs one mkfs tool and puts the filesystem into its error.
Status runMkfs(const MkfsRequest& r, const std::vector<std::string>& argv,
               const std::vector<std::string>& environment = {}) {
  Result<ProcessOutput> out = runChecked(argv, environment);
  if (out.ok()) return {};
  const std::string& message = out.status().message();
  const std::string what = fsName(r.filesystem) + " filesystem of " + sizeText(r.size);
  if (!r.contentDir.empty() && saysContentDoesNotFit(message)) {
    std::string oneLine = message;
    for (size_t at = oneLine.find('\n'); at != std::string::npos; at = oneLine.find('\n', at)) {
      oneLine.replace(at, 1, "; ");
    }
    return invalidArgument("content " + quoted(r.contentDir) + " does not fit into the " + what +
                           " (" + oneLine + "); give a larger size");
  }
  std::string context = "making the " + what;
  if (r.contentDir.empty()) return out.status().withContext(context);
  context += " from content " + quoted(r.contentDir);
  // Could be the host disk as well as the new filesystem: say both.
  if (message.find("No space left") != std::string::npos) {
    return {ErrorCode::kNoSpace,
            context + ": " + message +
                "; if the content does not fit, give a larger size, else free space on the host"};
  }
  return out.status().withContext(context);
}

std::vector<std::string> extArgs(const MkfsRequest& r) {
  // The device is a fresh all-zero file (MkfsRequest's contract), so nothing needs zeroing or
  // discarding: assume_storage_prezeroed also marks the inode tables as zeroed, so the guest
  // kernel does not zero them in the background on first mount (16 GiB of writes at 1 TiB).
  // With writeZeros the journal is written as zeros and the inode tables are left to the guest.
  std::string extended = r.writeZeros
                             ? "lazy_itable_init=1,lazy_journal_init=0,assume_storage_prezeroed=0"
                             : "lazy_itable_init=1,lazy_journal_init=1,assume_storage_prezeroed=1";
  extended += ",nodiscard";
  if (r.offset != 0) extended += ",offset=" + std::to_string(r.offset);
  std::vector<std::string> argv = {"mke2fs", "-t",    fsName(r.filesystem), "-F", "-q",
                                   "-E",     extended};
  // ext4's metadata checksums are seeded from the UUID. With the seed kept in the superblock
  // instead, giving a clone its own UUID is one superblock write whatever the size (tune2fs -U:
  // 0.01 s instead of 0.17 s at 1 TiB, and no e2fsck -f first on a filesystem a guest mounted).
  // Linux reads it since 4.4, e2fsprogs since 1.43. ext2 and ext3 have no metadata checksums.
  // meta_bg keeps three copies of each block of group descriptors (one per 64 groups' worth)
  // instead of one in every group that holds a backup superblock, and the reserved blocks of
  // resize_inode go with it (meta_bg is how ext4 grows without them, online since Linux 3.7):
  // at 1 TiB the data a new filesystem holds, and so what every clone copies, goes from 16 MiB
  // to under 4 MiB. Every backup superblock stays. Flex groups of 64 (mke2fs makes 16) match
  // the meta groups, so the bitmaps mke2fs writes, one set per flex group, fall in half as many
  // places: under 3 MiB at 1 TiB, in half the qcow2 L2 tables.
  if (r.filesystem == Filesystem::kExt4) {
    argv.insert(argv.end(), {"-O", "metadata_csum_seed,meta_bg,^resize_inode", "-G", "64"});
  }
  if (!r.label.empty()) argv.insert(argv.end(), {"-L", r.label});
  if (!r.uuid.empty()) argv.insert(argv.end(), {"-U", r.uuid});
  // mke2fs -d copies everything: files, directories, symlinks, hard links, device files, fifos,
  // sockets, with modes, owners, times and extended attributes.
  if (!r.contentDir.empty()) argv.insert(argv.end(), {"-d", r.contentDir});
  argv.push_back(r.devicePath);
  // At an offset the file is larger than the filesystem (the GPT backup follows it): the size
  // must be given, in KiB.
  if (r.offset != 0) argv.push_back(std::to_string(r.size / 1024) + "k");
  return argv;
}

// `rootFd` is the open content directory, or -1 for an empty filesystem.
Status makeXfs(const MkfsRequest& r, int rootFd) {
  // -K: nothing to discard on an all-zero file.
  std::vector<std::string> argv = {"mkfs.xfs", "-f", "-q", "-K"};
  if (!r.label.empty()) argv.insert(argv.end(), {"-L", r.label});
  if (!r.uuid.empty()) argv.insert(argv.end(), {"-m", "uuid=" + r.uuid});
  if (rootFd < 0) {
    argv.push_back(r.devicePath);
    return runMkfs(r, argv);
  }
  UniqueFd scratch(open(r.scratchDir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!scratch) return errnoStatus("cannot open scratch directory " + quoted(r.scratchDir), errno);
  // An unnamed file that mkfs.xfs reads through /proc; it is gone when `proto` is.
  VS_ASSIGN_OR_RETURN(TempFile proto, TempFile::create(scratch.get()));
  VS_ASSIGN_OR_RETURN(std::vector<XfsModeFixup> fixups,
                      writeXfsProtofile(rootFd, procPathOf(rootFd), proto.fd()));
  argv.insert(argv.end(), {"-p", proto.path(), r.devicePath});
  VS_RETURN_IF_ERROR(runMkfs(r, argv));
  return applyXfsModeFixups(r.devicePath, fixups)
      .withContext("making an xfs filesystem from content " + quoted(r.contentDir));
}

Status writeXfsLogZeros(int fd) {
  VS_ASSIGN_OR_RETURN(Extent log, xfsLogRange(fd));
  return fillHoles(fd, log.offset, log.end()).withContext("writing the xfs log as zeros");
}

Status makeBtrfs(const MkfsRequest& r) {
  std::vector<std::string> argv = {"mkfs.btrfs", "-f", "-q", "-K"};
  if (!r.label.empty()) argv.insert(argv.end(), {"-L", r.label});
  if (!r.uuid.empty()) argv.insert(argv.end(), {"-U", r.uuid});
  // --rootdir copies files, directories, symlinks, hard links, device files, fifos and sockets
  // with modes, owners and times.
  if (!r.contentDir.empty()) argv.insert(argv.end(), {"--rootdir", r.contentDir});
  argv.push_back(r.devicePath);
  VS_RETURN_IF_ERROR(runMkfs(r, argv));
  if (r.contentDir.empty()) return {};
  // When its estimate of the content is bigger than a regular file, mkfs.btrfs 6.2 grows the
  // file instead of failing; the caller's size is a promise, so that is an error here.
  struct stat st {};
  if (stat(r.devicePath.c_str(), &st) != 0) {
    return errnoStatus("cannot check the size of the new btrfs filesystem", errno);
  }
  if (static_cast<uint64_t>(st.st_size) > r.size) {
    return invalidArgument("content " + quoted(r.contentDir) + " does not fit into the btrfs " +
                           "filesystem of " + sizeText(r.size) + ": mkfs.btrfs wants at least " +
                           sizeText(static_cast<uint64_t>(st.st_size)) + " for it; give a " +
                           "larger size");
  }
  return {};
}

Status makeVfat(const MkfsRequest& r, int rootFd) {
  std::vector<std::string> topLevel;
  if (rootFd >= 0) {
    // Before mkfs: refuse what vfat cannot hold without writing anything.
    VS_ASSIGN_OR_RETURN(topLevel, checkVfatContent(rootFd, r.contentDir));
  }
  // No -F: mkfs.fat chooses FAT12/16 below 512 MiB and FAT32 from there, the layout other
  // systems expect for each size (forcing FAT32 on small disks gives too few clusters).
  std::vector<std::string> argv = {"mkfs.fat"};
  if (!r.label.empty()) argv.insert(argv.end(), {"-n", r.label});
  if (!r.uuid.empty()) argv.insert(argv.end(), {"-i", r.uuid.substr(0, 4) + r.uuid.substr(5)});
  argv.push_back(r.devicePath);
  VS_RETURN_IF_ERROR(runMkfs(r, argv));
  if (topLevel.empty()) return {};
  return copyVfatContent(rootFd, r.contentDir, topLevel, r.devicePath, r.size);
}

Status makeSwap(const MkfsRequest& r) {
  // mkswap warns that the file has holes (the kernel could not swap to it as a file on the host);
  // the guest sees a disk, so the warning does not apply and the exit code is 0.
  std::vector<std::string> argv = {"mkswap"};
  if (!r.label.empty()) argv.insert(argv.end(), {"-L", r.label});
  if (!r.uuid.empty()) argv.insert(argv.end(), {"-U", r.uuid});
  argv.push_back(r.devicePath);
  return runMkfs(r, argv);
}

}  // namespace

uint64_t minimumFilesystemSize(Filesystem fs) {
  // Measured with the Debian 12 tools, at 512-byte steps: one sector less fails.
  switch (fs) {
    case Filesystem::kNone:
      return 0;
    case Filesystem::kExt2:
      return 104 * kKiB;
    case Filesystem::kExt3:
    case Filesystem::kExt4:
      // Below 2 MiB mke2fs succeeds but silently leaves out the journal: that is ext2.
      return 2 * kMiB;
    case Filesystem::kXfs:
      return 300 * kMiB;
    case Filesystem::kBtrfs:
      return 109 * kMiB;
    case Filesystem::kVfat:
      return 50 * kKiB;
    case Filesystem::kSwap:
      return 40 * kKiB;
  }
  return 0;
}

bool filesystemSupportsOffset(Filesystem fs) {
  return fs == Filesystem::kExt2 || fs == Filesystem::kExt3 || fs == Filesystem::kExt4;
}

Status makeFilesystem(const MkfsRequest& request) {
  const MkfsRequest& r = request;
  const std::string name = fsName(r.filesystem);
  if (r.offset != 0 && !filesystemSupportsOffset(r.filesystem)) {
    return invalidArgument(name + " cannot be made at an offset inside a file");
  }
  if (r.filesystem == Filesystem::kNone) {
    if (!r.contentDir.empty()) {
      return invalidArgument("content " + quoted(r.contentDir) +
                             " needs a filesystem, but the filesystem is 'none'");
    }
    VS_RETURN_IF_ERROR(validateLabel(r.filesystem, r.label));
    return validateUuid(r.filesystem, r.uuid);
  }
  const uint64_t minimum = minimumFilesystemSize(r.filesystem);
  if (r.size < minimum) {
    return invalidArgument("size " + sizeText(r.size) + " is too small for " + name +
                           ": it needs at least " + sizeText(minimum) + "; give a larger size");
  }
  VS_RETURN_IF_ERROR(validateLabel(r.filesystem, r.label));
  VS_RETURN_IF_ERROR(validateUuid(r.filesystem, r.uuid));
  UniqueFd root;
  if (!r.contentDir.empty()) {
    if (r.filesystem == Filesystem::kSwap) {
      return invalidArgument("content " + quoted(r.contentDir) +
                             " needs a filesystem that holds files; swap does not");
    }
    VS_ASSIGN_OR_RETURN(root, openContentDir(r.contentDir));
  }
  switch (r.filesystem) {
    case Filesystem::kExt2:
    case Filesystem::kExt3:
    case Filesystem::kExt4:
      // UNIX_IO_NOZEROOUT: libext2fs then zeroes with writes, not with fallocate's holes.
      return runMkfs(r, extArgs(r),
                     r.writeZeros ? std::vector<std::string>{"UNIX_IO_NOZEROOUT=1"}
                                  : std::vector<std::string>{});
    case Filesystem::kXfs:
      VS_RETURN_IF_ERROR(makeXfs(r, root.get()));
      return r.writeZeros ? writeXfsLogZeros(r.deviceFd) : Status{};
    case Filesystem::kBtrfs:
      return makeBtrfs(r);
    case Filesystem::kVfat:
      return makeVfat(r, root.get());
    case Filesystem::kSwap:
      return makeSwap(r);
    case Filesystem::kNone:
      break;
  }
  return {};
}

uint8_t mbrPartitionType(Filesystem fs) {
  switch (fs) {
    case Filesystem::kSwap:
      return 0x82;
    case Filesystem::kVfat:
      return 0x0c;  // FAT32 with LBA; Linux and firmware take it for FAT12/16 as well
    default:
      return 0x83;
  }
}

std::string_view gptPartitionType(Filesystem fs) {
  switch (fs) {
    case Filesystem::kSwap:
      return "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";
    case Filesystem::kVfat:
      return "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";
    default:
      return "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
  }
}

}  // namespace virtscratch::image
