#include "image/vfat_content.h"

#include <sys/stat.h>

#include <array>
#include <unordered_map>

#include "base/file_io.h"
#include "base/process.h"
#include "image/content_tree.h"
#include "image/size.h"

namespace virtscratch::image {
namespace {

constexpr std::string_view kVfatChooseOther = "; remove it or choose ext4, xfs or btrfs";
constexpr std::string_view kVfatRenameOrChooseOther = "; rename it or choose ext4, xfs or btrfs";
constexpr uint64_t kVfatMaxFileSize = 4 * kGiB - 1;

std::string lowerAscii(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return lower;
}

// mcopy refuses these as whole names (with or without an extension it takes them).
bool isReservedDosName(std::string_view name) {
  static constexpr std::array<std::string_view, 4> kDevices = {"con", "prn", "aux", "nul"};
  std::string lower = lowerAscii(name);
  for (auto d : kDevices) {
    if (lower == d) return true;
  }
  return lower.size() == 4 && (lower.starts_with("com") || lower.starts_with("lpt")) &&
         lower[3] >= '1' && lower[3] <= '9';
}

std::string_view typeName(mode_t mode) {
  if (S_ISLNK(mode)) return "symlink";
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISSOCK(mode)) return "socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "device file";
  return "special file";
}

// Why vfat cannot hold this name as it is, or empty.
std::string nameProblem(std::string_view name) {
  constexpr std::string_view kForbidden = "\"*/:<>?\\|";
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) {
      return "its name has characters outside printable ASCII, which the tools cannot store "
             "unchanged";
    }
    if (kForbidden.find(c) != std::string_view::npos) {
      return "its name holds '" + std::string(1, c) + "', and vfat names cannot hold any of " +
             std::string(kForbidden);
    }
  }
  if (name.back() == '.' || name.back() == ' ') {
    return "vfat drops dots and spaces at the end of a name";
  }
  if (isReservedDosName(name)) return "its name is a reserved DOS device name";
  return {};
}

class VfatChecker : public ContentVisitor {
 public:
  explicit VfatChecker(const std::string& contentDir)
      : where_(" (in content " + quoted(contentDir) + ")") {
    levels_.emplace_back();
  }

  Status visit(const ContentEntry& e) override {
    const mode_t mode = e.st.st_mode;
    if (!S_ISDIR(mode) && !S_ISREG(mode)) {
      return invalidArgument("vfat cannot store the " + std::string(typeName(mode)) + " " +
                             quoted(e.path) + where_ + std::string(kVfatChooseOther));
    }
    if (std::string problem = nameProblem(e.name); !problem.empty()) {
      return invalidArgument("vfat cannot store the file " + quoted(e.path) + where_ + ": " +
                             problem + std::string(kVfatRenameOrChooseOther));
    }
    if (S_ISREG(mode) && static_cast<uint64_t>(e.st.st_size) > kVfatMaxFileSize) {
      return invalidArgument("vfat cannot store the file " + quoted(e.path) + where_ + " of " +
                             formatSize(static_cast<uint64_t>(e.st.st_size)) +
                             ": vfat files are smaller than 4 GiB" + std::string(kVfatChooseOther));
    }
    auto [it, inserted] = levels_.back().emplace(lowerAscii(e.name), std::string(e.name));
    if (!inserted) {
      std::string_view dir = e.path.substr(0, e.path.size() - e.name.size());
      return invalidArgument("vfat cannot store both " + quoted(std::string(dir) + it->second) +
                             " and " + quoted(e.path) + where_ +
                             ": vfat names that differ only in case are the same name; rename "
                             "one or choose ext4, xfs or btrfs");
    }
    if (levels_.size() == 1) topLevel_.emplace_back(e.name);
    if (S_ISDIR(mode)) levels_.emplace_back();
    return {};
  }

  Status leaveDirectory(const ContentEntry&) override {
    levels_.pop_back();
    return {};
  }

  std::vector<std::string> takeTopLevel() { return std::move(topLevel_); }

 private:
  std::string where_;
  // Per open directory level: lower-cased name -> name as found.
  std::vector<std::unordered_map<std::string, std::string>> levels_;
  std::vector<std::string> topLevel_;
};

}  // namespace

Result<std::vector<std::string>> checkVfatContent(int rootFd, const std::string& contentDir) {
  VfatChecker checker(contentDir);
  VS_RETURN_IF_ERROR(walkContent(rootFd, checker));
  return checker.takeTopLevel();
}

Status copyVfatContent(int rootFd, const std::string& contentDir,
                       const std::vector<std::string>& names, const std::string& devicePath,
                       uint64_t size) {
  // Sources go through /proc/<pid>/fd/<rootFd>: the path starts with '/', so mtools never takes
  // it for a drive letter or an option, whatever the content directory is called.
  const std::string root = procPathOf(rootFd);
  constexpr size_t kBatch = 256;  // keeps the argument vector far below ARG_MAX
  for (size_t start = 0; start < names.size(); start += kBatch) {
    // -s recursive, -p keep attributes, -m keep modification times, -Q stop at the first error.
    std::vector<std::string> argv = {"mcopy", "-i", devicePath, "-s", "-p", "-m", "-Q"};
    for (size_t i = start; i < names.size() && i < start + kBatch; ++i) {
      argv.push_back(root + "/" + names[i]);
    }
    argv.emplace_back("::/");
    VS_ASSIGN_OR_RETURN(ProcessOutput out, runProcess(argv));
    if (out.exitCode == 0) continue;
    std::string message = out.err.empty() ? out.out : out.err;
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
      message.pop_back();
    }
    if (message.empty()) message = "(no message)";
    if (message.find("No directory slots") != std::string::npos) {
      return invalidArgument(
          "content " + quoted(contentDir) +
          " has too many entries for a vfat directory (mcopy: " + message +
          "); below 512 MiB vfat is FAT12/16, whose root directory holds at most 512 entries, "
          "and no vfat directory holds more than 65536 slots: move files into subdirectories or "
          "give a size of at least 512 MiB");
    }
    if (message.find("Disk full") != std::string::npos) {
      return invalidArgument("content " + quoted(contentDir) +
                             " does not fit into the vfat filesystem of " + formatSize(size) +
                             " (mcopy: " + message + "); give a larger size");
    }
    return failed("copying content " + quoted(contentDir) + " into the vfat filesystem of " +
                  formatSize(size) + " failed: mcopy failed (exit " + std::to_string(out.exitCode) +
                  "): " + message);
  }
  return {};
}

}  // namespace virtscratch::image
