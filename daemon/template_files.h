// The files of the template cache in <pool>/.templates/: a template `<name>.<format>`, its
// description `<name>.template` (the key it was made for) and its spares
// `<name>.spare-<uuid>.<format>`. Building runs on worker threads; scanning on the loop thread
// at start. Every file is reached relative to the directory's descriptor, never through a
// symlink.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "base/progress.h"
#include "base/status.h"
#include "daemon/image_engine.h"
#include "daemon/templates.h"
#include "image/spec.h"

namespace virtscratch::daemon {

// 16 hex digits of a hash of the key.
std::string templateNameOf(const std::string& key);
std::string descriptionFileName(const std::string& name);  // "<name>.template"

struct TemplateScan {
  std::vector<TemplateCache::Entry> entries;  // ready, with their spares
  int deleted = 0;                            // stale, temporary or unknown files removed
  std::vector<std::string> leftAlone;         // what is not a regular file
};

// Reads the directory: keeps the templates whose description matches their name (and those in
// `referenced`, which overlays are backed by), deletes everything else.
Result<TemplateScan> scanTemplates(int dirFd, const std::set<std::string>& referenced);

// Whether the directory's filesystem shares blocks between files (btrfs, xfs with reflink).
bool canReflink(int dirFd);

// Worker thread: makes the template `<name>.<format>` for `key` from `spec` (its UUID is
// ignored), then its description. Returns the allocated bytes of both; leaves nothing behind on
// failure.
Result<uint64_t> buildTemplate(ImageEngine& engine, int dirFd, const std::string& name,
                               const std::string& key, image::ImageSpec spec, uint64_t maxSize);

// Worker thread: clones the template `templateFile` (at `templatePath`, of `format` as its record
// says) into the spare `file` with the filesystem UUID `uuid`, as an overlay when `overlay`.
Result<TemplateCache::Spare> buildSpare(ImageEngine& engine, int dirFd,
                                        const std::string& templateFile,
                                        const std::string& templatePath, image::ImageFormat format,
                                        const std::string& file, const std::string& uuid,
                                        bool overlay);

// Worker thread: the spare `file` of an encrypted template: the raw template `templateFile`
// cloned with the filesystem UUID `uuid`, then written as an image of `format` (qcow2 or raw
// LUKS) encrypted under a fresh master key that `passphrase` opens. Nothing but the spare stays.
Result<TemplateCache::Spare> buildEncryptedSpare(ImageEngine& engine, int dirFd,
                                                 const std::string& templateFile,
                                                 const std::string& templatePath,
                                                 const std::string& file, const std::string& uuid,
                                                 image::ImageFormat format,
                                                 const std::string& passphrase);

}  // namespace virtscratch::daemon
