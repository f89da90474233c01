// Proof that a test runs no mkfs: puts a directory first on PATH whose mkfs tools (the ones the
// engine runs to make or relabel filesystems) only note that they were run and fail. The engine
// finds its tools through PATH (base/process.h), so a test whose Service reached the real engine
// sees reached() name the tool. Make it before any thread starts and destroy it after they have
// ended: setenv is not thread-safe.
#pragma once

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/support/test_util.h"

namespace virtscratch::daemon::fake {

class MkfsTrap {
 public:
  MkfsTrap() {
    for (const char* tool : {"mke2fs", "mkfs.ext4", "mkfs.xfs", "mkfs.btrfs", "mkfs.fat",
                             "mkfs.vfat", "mkswap", "tune2fs", "xfs_admin", "btrfstune"}) {
      std::string path = dir_.file(tool);
      std::ofstream(path) << "#!/bin/sh\necho " << tool << " >> " << dir_.file("reached")
                          << "\nexit 1\n";
      chmod(path.c_str(), 0755);
    }
    const char* path = std::getenv("PATH");
    oldPath_ = path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
    setenv("PATH", (dir_.path() + ":" + oldPath_).c_str(), 1);
  }
  ~MkfsTrap() { setenv("PATH", oldPath_.c_str(), 1); }
  MkfsTrap(const MkfsTrap&) = delete;
  MkfsTrap& operator=(const MkfsTrap&) = delete;

  // The tools that ran, one a line; empty when none did.
  std::string reached() const {
    std::string file = dir_.file("reached");
    return ::virtscratch::test::fileExists(file) ? ::virtscratch::test::readFile(file) : "";
  }

 private:
  ::virtscratch::test::TempDir dir_;
  std::string oldPath_;
};

}  // namespace virtscratch::daemon::fake
