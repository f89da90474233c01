// What a test can assert about virt-scratchd's pool from outside, with the tools users trust:
// the images `virt-scratch list --json` shows against those expected, the files in the pool
// directory (no temporary or half-made file, nothing unexplained in .templates), each image clean
// for qemu-img check and e2fsck -fn, and an export's gzip whole and of the right size.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/test_util.h"

namespace virtscratch::test {

// A domain UUID without its dashes, as image ids use it.
std::string compactUuid(std::string uuid);

struct ListedImage {
  std::string id, path, domain, target, format, filesystem, lifetime;
  uint64_t virtualSize = 0;
};

// `virt-scratch list --json`'s images; `error` says why there are none when the command failed.
std::vector<ListedImage> listImages(const CommandResult& r, std::string* error);

// Empty when every id in `mustExist` is listed, none in `mustBeGone` is, and every other listed
// id is in `mayExist`; otherwise what is wrong.
std::string compareListing(const std::vector<ListedImage>& listed,
                           const std::set<std::string>& mustExist,
                           const std::set<std::string>& mustBeGone,
                           const std::set<std::string>& mayExist);

struct TemplateFile {
  std::string path, format, filesystem;  // filesystem from its description; empty if none
};

struct PoolAudit {
  std::vector<std::string> unexpected;  // "<relative path> (why)"
  std::vector<TemplateFile> templates;  // templates and spares: clones of them become images
};

// Walks the pool: <uuid>/<target>.<format> beside <target>.record for exactly the images listed,
// and .templates; everything else is unexpected.
PoolAudit auditPoolFiles(const std::string& pool, const std::vector<ListedImage>& listed);

// qemu-img check (qcow2) or info (raw), and e2fsck -fn of ext filesystems on a raw copy. A file
// is checked again only when it changed. -U everywhere: QEMU locks the images of running domains.
class ImageChecker {
 public:
  explicit ImageChecker(std::string scratchFile) : scratch_(std::move(scratchFile)) {}

  // Empty when the image is clean; otherwise what the tools said.
  std::string check(const std::string& path, const std::string& format,
                    const std::string& filesystem);
  uint64_t virtualSize(const std::string& path);  // 0 when qemu-img cannot tell
  int checked() const { return checked_; }

 private:
  std::string runChecks(const std::string& path, const std::string& format,
                        const std::string& filesystem);

  std::string scratch_;
  std::map<std::string, std::tuple<uint64_t, int64_t, int64_t, int64_t>> clean_;
  int checked_ = 0;
};

// Empty when `gz` is a whole gzip stream (gzip -t) of `size` bytes (any size when 0; sizes are
// compared modulo 4 GiB, as gzip's trailer keeps them).
std::string checkExport(const std::string& gz, uint64_t size);

struct PoolStatus {
  bool ok = false;
  uint64_t used = 0;
  uint64_t images = 0;
};

// `virt-scratch status --json`: PoolUsed and ImageCount.
PoolStatus poolStatus(const CommandResult& r);

}  // namespace virtscratch::test
