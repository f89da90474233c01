// A pool that several hosts mount ([pool] shared = yes, e.g. over NFS): which host owns an image,
// how the owner holds it, and how a migration's destination takes it over.
//  - Each image's record names its owner (`host`, [pool] host or the machine's host name); a
//    daemon recovers, lists and releases only its own images and never cleans up what may be
//    another host's work in progress.
//  - The owning daemon holds an OFD lock on one byte of the image file far past any data (QEMU's
//    own image locks use bytes 100-299), for as long as it owns the image: NFS carries it to the
//    other hosts, and it goes when the daemon's file descriptor does, crash included.
//  - A destination that is asked for an incoming image which the pool already has writes an
//    adoption marker `<target>.adopt` naming itself; the source, when the domain leaves it, lets
//    the image go instead of deleting it, and the destination takes the lock once it is free.
// Any thread (each call touches only the directory it is given).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "base/unique_fd.h"

namespace virtscratch::daemon {

// Host names as records and markers hold them: 1-64 of [A-Za-z0-9._-], not starting with '.'
// or '-'. The error names the value.
Status validateHostName(std::string_view name);
// `configured` when given, else the machine's host name (gethostname), checked.
Result<std::string> poolHostName(const std::string& configured);

// The template cache's directory: ".templates" in a pool of one host's own, ".templates-<host>"
// in a shared pool (a host's templates and spares are its own). Content is staged in the shared
// ".staging" under random names, so hosts do not meet there.
std::string templatesDirName(bool shared, std::string_view host);
bool isTemplatesDirName(std::string_view name);

// Opens the image `name` in `dirFd` (never through a symlink) and takes the owner's lock; kBusy
// naming `shown` when another process holds it.
Result<UniqueFd> lockImage(int dirFd, const std::string& name, const std::string& shown);

// Shared pools only work where the filesystem carries OFD locks between hosts (NFS mounted
// without `nolock`): takes the owner's lock on a scratch file of this host's in the pool (then
// removes it), and names what to do when the filesystem refuses.
Status probeLocks(int poolFd, const std::string& poolPath, std::string_view host);

// "<target>.adopt".
std::string adoptMarkerName(std::string_view target);
// Writes the marker naming `host` (fsynced, with its directory).
Status writeAdoptMarker(int dirFd, std::string_view target, std::string_view host);
// The host the marker names; empty when there is none (or it cannot be read).
std::string adoptMarkerHost(int dirFd, std::string_view target);
// Removes the marker if it names `host`.
void removeAdoptMarker(int dirFd, std::string_view target, std::string_view host);

}  // namespace virtscratch::daemon
