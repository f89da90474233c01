// Where a scratch image lives: <pool>/<domain uuid>/<target>.<format>, e.g.
// /var/lib/virt-scratch/pool/6f1b2c3d-0000-4000-8000-00000000abcd/vdb.qcow2. The daemon makes and
// finds its images there; `virt-scratch enable` writes that path into the <disk> of an
// attach='boot' disk before the image exists; the hook checks that the <disk> it finds points
// where the daemon made the image. Pure functions, any thread.
#pragma once

#include <string>
#include <string_view>

#include "image/spec.h"

namespace virtscratch::vocabulary {

// A domain's directory in the pool is named by its UUID in the normalised (lower-case) form
// (vocabulary::isNormalisedUuid).

// "<target>.<format>": the image's file in its domain's directory.
std::string imageFileName(std::string_view target, image::ImageFormat format);

// "<domain uuid>/<target>.<format>": the image's path relative to the pool directory.
std::string imageRelativePath(std::string_view domainUuid, std::string_view target,
                              image::ImageFormat format);

// "<poolDir>/<domain uuid>/<target>.<format>".
std::string imagePath(std::string_view poolDir, std::string_view domainUuid,
                      std::string_view target, image::ImageFormat format);

// Whether two paths name the same image file once written the same way ("a//b/./c" is "a/b/c"),
// without asking the filesystem: the hook compares a <disk>'s <source file> with the path the
// daemon made the image at.
bool sameImagePath(std::string_view a, std::string_view b);

}  // namespace virtscratch::vocabulary
