// The modes of what the daemon keeps, private by default: images, records, templates, spares and
// their descriptions 0600 (QEMU reaches an image because libvirt's DAC labelling hands it to the
// qemu user while the domain runs); domain directories 0711 (traversed by QEMU, listed by nobody);
// the templates directory 0700, or 0711 while a template may back an overlay QEMU opens. Set
// explicitly, never left to the umask. Any thread.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace virtscratch::daemon {

inline constexpr mode_t kPrivateFileMode = 0600;
inline constexpr mode_t kDomainDirMode = 0711;
inline constexpr mode_t kPrivateDirMode = 0700;

// Takes off the permission bits of `name` in `dirFd` that `allowed` has not (never adds any; a
// symlink is not followed). What it did, for the log: "'<shown>' 0644 -> 0600", or "'<shown>'
// (cannot tighten 0644: <why>)"; nothing when the mode was already within `allowed`.
std::optional<std::string> tightenMode(int dirFd, const std::string& name, mode_t allowed,
                                       const std::string& shown);

}  // namespace virtscratch::daemon
