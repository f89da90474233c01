// Each filesystem's own checker, read-only, as the tests run it on a guest's bytes.
#pragma once

#include <map>
#include <string>

#include "tests/support/test_util.h"

namespace virtscratch::test {

// e2fsck -fn, xfs_repair -n, btrfs check --readonly or fsck.fat -n on `file`, chosen by the
// filesystem's name (ext2 ... swap, as the command line names them). swap and none have no
// checker: exit code 0 and nothing said (blkid judges them).
CommandResult checkFilesystem(const std::string& filesystem, const std::string& file);

// The superblock of the ext2/3/4 filesystem in `file` as `dumpe2fs -h` prints it: each field's
// name ("Block count", "Filesystem features") to its value, without the padding between them.
std::map<std::string, std::string> ext2Header(const std::string& file);

}  // namespace virtscratch::test
