#include "tests/support/filesystem_check.h"

namespace virtscratch::test {

CommandResult checkFilesystem(const std::string& filesystem, const std::string& file) {
  if (filesystem.starts_with("ext")) return run({"e2fsck", "-fn", file});
  if (filesystem == "xfs") return run({"xfs_repair", "-n", "-f", file});
  if (filesystem == "btrfs") return run({"btrfs", "check", "--readonly", file});
  if (filesystem == "vfat") return run({"fsck.fat", "-n", file});
  return {0, "", ""};
}

}  // namespace virtscratch::test
