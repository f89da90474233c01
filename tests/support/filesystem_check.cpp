#include "tests/support/filesystem_check.h"

#include <sstream>

namespace virtscratch::test {

CommandResult checkFilesystem(const std::string& filesystem, const std::string& file) {
  if (filesystem.starts_with("ext")) return run({"e2fsck", "-fn", file});
  if (filesystem == "xfs") return run({"xfs_repair", "-n", "-f", file});
  if (filesystem == "btrfs") return run({"btrfs", "check", "--readonly", file});
  if (filesystem == "vfat") return run({"fsck.fat", "-n", file});
  return {0, "", ""};
}

std::map<std::string, std::string> ext2Header(const std::string& file) {
  std::map<std::string, std::string> fields;
  std::istringstream in(run({"dumpe2fs", "-h", file}).out);
  for (std::string line; std::getline(in, line);) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto value = line.find_first_not_of(' ', colon + 1);
    fields[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
  }
  return fields;
}

}  // namespace virtscratch::test
