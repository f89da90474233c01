// What the tests share: a scratch directory that removes itself, and running the tools users
// trust (qemu-img, sfdisk, blkid, fsck, debugfs, mtools) to check images.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace virtscratch::test {

// A fresh directory under $TMPDIR (or /var/tmp: not tmpfs, so holes behave as on a real pool),
// removed with everything in it at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names of the entries in the directory, sorted; hidden ones included.
  std::vector<std::string> entries() const;

 private:
  std::string path_;
};

struct CommandResult {
  int exitCode = -1;
  std::string out;
  std::string err;
};

// Runs argv (no shell) and returns its exit code and output; stdin from /dev/null.
CommandResult run(const std::vector<std::string>& argv);
// Runs argv with `input` on stdin.
CommandResult runWithInput(const std::vector<std::string>& argv, const std::string& input);

// Makes a sparse file of `size` bytes and writes `data` at each offset.
void writeFileAt(const std::string& path, uint64_t offset, const std::string& data);
void makeSparseFile(const std::string& path, uint64_t size);
std::string readFile(const std::string& path);
// `length` bytes that differ at every offset from the next and are never zero, so misplaced copies
// show; `seed` makes two runs of them differ.
std::string patternBytes(uint64_t length, uint64_t seed);
bool fileExists(const std::string& path);
uint64_t allocatedBytesOf(const std::string& path);

// Every entry under `root` (symlinks not followed), by relative path, with its type, size and
// change time: two snapshots differ when anything under `root` was made, removed or changed.
// Top-level names in `skip` are left out with everything under them.
std::map<std::string, std::string> treeSnapshot(const std::string& root,
                                                const std::set<std::string>& skip = {});

}  // namespace virtscratch::test

namespace virtscratch::test {

// Copies [offset, offset + length) of `src` into a new sparse file `dst`, reading only the
// source's data extents. For handing one partition of a raw disk to fsck or blkid.
void extractRange(const std::string& src, uint64_t offset, uint64_t length, const std::string& dst);

// Parses blkid's "-o export" output into KEY=VALUE pairs.
std::map<std::string, std::string> parseExport(const std::string& text);

}  // namespace virtscratch::test
