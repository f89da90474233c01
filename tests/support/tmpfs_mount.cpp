#include "tests/support/tmpfs_mount.h"

#include <filesystem>

#include "tests/support/test_util.h"

namespace virtscratch::test {

TmpfsMount::TmpfsMount(std::string dir, uint64_t bytes, const std::string& mode)
    : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  CommandResult r =
      run({"mount", "-t", "tmpfs", "-o", "size=" + std::to_string(bytes) + ",mode=" + mode,
           "virt-scratch-test", dir_});
  mounted_ = r.exitCode == 0;
  error_ = r.err;
}

TmpfsMount::~TmpfsMount() {
  if (!mounted_) return;
  if (run({"umount", dir_}).exitCode != 0) run({"umount", "-l", dir_});
}

}  // namespace virtscratch::test
