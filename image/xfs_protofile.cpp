#include "image/xfs_protofile.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdio>
#include <string_view>

#include "base/file_io.h"
#include "base/process.h"
#include "image/content_tree.h"

namespace virtscratch::image {
namespace {

constexpr size_t kFlushAt = 64 * 1024;
constexpr size_t kXfsSymlinkMax = 1024;  // XFS_SYMLINK_MAXLEN
// mkfs.xfs packs device numbers the IRIX way (14 bits of major, 18 of minor), and Linux reads
// only 9 bits of the major back.
constexpr unsigned kXfsMajorLimit = 1u << 9;
constexpr unsigned kXfsMinorLimit = 1u << 18;

constexpr std::string_view kXfsChooseOther = "; rename or remove it, or choose ext4 or btrfs";

// A token the protofile parser reads back unchanged: no whitespace (the separator), not
// starting with ':' (a comment).
bool isPlainToken(std::string_view token) {
  if (token.empty() || token.front() == ':') return false;
  return token.find_first_of(" \t\n\r\v\f") == std::string_view::npos;
}

// The protofile mode token: type, setuid, setgid, then three octal digits.
std::string modeToken(char type, mode_t mode) {
  char token[8];
  std::snprintf(token, sizeof token, "%c%c%c%03o", type, (mode & S_ISUID) ? 'u' : '-',
                (mode & S_ISGID) ? 'g' : '-', static_cast<unsigned>(mode & 0777));
  return token;
}

class ProtofileWriter : public ContentVisitor {
 public:
  ProtofileWriter(std::string rootPath, int outFd) : rootPath_(std::move(rootPath)), fd_(outFd) {}

  Status writeRoot(const struct stat& st) {
    text_ += "virt-scratch\n0 0\n";
    appendOwnedMode('d', st);
    text_ += '\n';
    noteSticky("", st);
    return {};
  }

  Status visit(const ContentEntry& e) override {
    if (!isPlainToken(e.name) || e.name == "$") {
      return invalidArgument("xfs cannot take the file " + quoted(e.path) +
                             ": the mkfs.xfs protofile cannot express names with whitespace, "
                             "starting with ':' or named '$'" +
                             std::string(kXfsChooseOther));
    }
    text_.append(e.name);
    text_ += ' ';
    const mode_t mode = e.st.st_mode;
    if (S_ISDIR(mode)) {
      appendOwnedMode('d', e.st);
      noteSticky(e.path, e.st);
    } else if (S_ISREG(mode)) {
      appendOwnedMode('-', e.st);
      text_ += ' ';
      text_ += rootPath_;
      text_ += '/';
      text_.append(e.path);
      noteSticky(e.path, e.st);
    } else if (S_ISLNK(mode)) {
      VS_ASSIGN_OR_RETURN(std::string target, readContentSymlink(e));
      if (!isPlainToken(target)) {
        return invalidArgument("xfs cannot take the symlink " + quoted(e.path) + " -> " +
                               quoted(target) +
                               ": the mkfs.xfs protofile cannot express targets with whitespace "
                               "or starting with ':'" +
                               std::string(kXfsChooseOther));
      }
      if (target.size() > kXfsSymlinkMax) {
        return invalidArgument("xfs cannot store the symlink " + quoted(e.path) +
                               ": its target is " + std::to_string(target.size()) +
                               " bytes, xfs takes at most " + std::to_string(kXfsSymlinkMax));
      }
      appendOwnedMode('l', e.st);
      text_ += ' ';
      text_ += target;
    } else if (S_ISFIFO(mode)) {
      appendOwnedMode('p', e.st);
      noteSticky(e.path, e.st);
    } else if (S_ISCHR(mode) || S_ISBLK(mode)) {
      unsigned maj = major(e.st.st_rdev), min = minor(e.st.st_rdev);
      if (maj >= kXfsMajorLimit || min >= kXfsMinorLimit) {
        return invalidArgument("xfs cannot take the device file " + quoted(e.path) + " (" +
                               std::to_string(maj) + ":" + std::to_string(min) +
                               "): xfs holds device majors below 512 and minors below 262144" +
                               std::string(kXfsChooseOther));
      }
      appendOwnedMode(S_ISCHR(mode) ? 'c' : 'b', e.st);
      text_ += ' ' + std::to_string(maj) + ' ' + std::to_string(min);
      noteSticky(e.path, e.st);
    } else {
      return invalidArgument("xfs cannot take the socket " + quoted(e.path) +
                             ": the mkfs.xfs protofile has no sockets" +
                             std::string(kXfsChooseOther));
    }
    text_ += '\n';
    return flushIfFull();
  }

  Status leaveDirectory(const ContentEntry&) override {
    text_ += "$\n";
    return flushIfFull();
  }

  Status finish() {
    text_ += "$\n";
    return flush();
  }

  std::vector<XfsModeFixup> takeFixups() { return std::move(fixups_); }

 private:
  void appendOwnedMode(char type, const struct stat& st) {
    text_ += modeToken(type, st.st_mode);
    text_ += ' ' + std::to_string(st.st_uid) + ' ' + std::to_string(st.st_gid);
  }

  void noteSticky(std::string_view path, const struct stat& st) {
    if ((st.st_mode & S_ISVTX) == 0) return;
    fixups_.push_back({"/" + std::string(path), st.st_mode});
  }

  Status flushIfFull() { return text_.size() >= kFlushAt ? flush() : Status{}; }

  Status flush() {
    VS_RETURN_IF_ERROR(writeAll(fd_, text_.data(), text_.size(), offset_));
    offset_ += text_.size();
    text_.clear();
    return {};
  }

  std::string rootPath_;
  int fd_;
  uint64_t offset_ = 0;
  std::string text_;
  std::vector<XfsModeFixup> fixups_;
};

}  // namespace

Result<std::vector<XfsModeFixup>> writeXfsProtofile(int rootFd, const std::string& rootPath,
                                                    int outFd) {
  struct stat rootStat {};
  if (fstat(rootFd, &rootStat) != 0) return errnoStatus("cannot read the content directory", errno);
  ProtofileWriter writer(rootPath, outFd);
  VS_RETURN_IF_ERROR(writer.writeRoot(rootStat));
  VS_RETURN_IF_ERROR(walkContent(rootFd, writer));
  VS_RETURN_IF_ERROR(writer.finish());
  return writer.takeFixups();
}

Status applyXfsModeFixups(const std::string& devicePath, const std::vector<XfsModeFixup>& fixups) {
  // Batches keep the argument vector far below ARG_MAX.
  constexpr size_t kBatch = 256;
  for (size_t start = 0; start < fixups.size(); start += kBatch) {
    std::vector<std::string> argv = {"xfs_db", "-x"};
    for (size_t i = start; i < fixups.size() && i < start + kBatch; ++i) {
      const XfsModeFixup& f = fixups[i];
      // xfs_db splits its commands into words and reads quotes: such a path cannot be named.
      if (f.path.find_first_of("\"'\\") != std::string::npos) {
        return invalidArgument("xfs cannot keep the sticky bit of " + quoted(f.path.substr(1)) +
                               ": xfs_db cannot name a path with quotes or backslashes; rename "
                               "it, clear the sticky bit, or choose ext4 or btrfs");
      }
      char mode[16];
      std::snprintf(mode, sizeof mode, "0%o", static_cast<unsigned>(f.mode));
      argv.push_back("-c");
      argv.push_back("path " + f.path);
      argv.push_back("-c");
      argv.push_back(std::string("write core.mode ") + mode);
    }
    argv.push_back(devicePath);
    VS_ASSIGN_OR_RETURN(ProcessOutput out, runChecked(argv));
    // xfs_db goes on after a failed command; each write that worked prints the new mode.
    size_t written = 0;
    for (size_t at = out.out.find("core.mode = "); at != std::string::npos;
         at = out.out.find("core.mode = ", at + 1)) {
      ++written;
    }
    if (written != (argv.size() - 3) / 4) {
      return failed("xfs_db could not set the sticky bits of the content: " + out.out + out.err);
    }
  }
  return {};
}

}  // namespace virtscratch::image
