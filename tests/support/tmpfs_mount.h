// A tmpfs of a fixed size mounted on a directory for the life of the object, for tests of a
// full disk (needs root). Unmounting falls back to a lazy unmount, so that a process still
// holding a file there cannot leave the mount behind the test.
#pragma once

#include <cstdint>
#include <string>

namespace virtscratch::test {

class TmpfsMount {
 public:
  // Makes `dir` when missing; `mode` is the root directory's (mount option mode=).
  TmpfsMount(std::string dir, uint64_t bytes, const std::string& mode = "0755");
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }  // mount's stderr when it failed

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

}  // namespace virtscratch::test
