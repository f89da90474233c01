// The worker-thread half of an allocation: makes the image in its domain directory, cold (the
// engine's create runs mkfs) or as a clone of a template, then writes its record. Leaves nothing
// behind on failure. A spare is renamed into place when the source offers one. A clone that
// fails for a reason other than cancel or space falls back to a cold build, so a broken template
// costs time, never an allocation.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "base/progress.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "daemon/access.h"
#include "daemon/image_engine.h"
#include "daemon/record_file.h"
#include "image/spec.h"

namespace virtscratch::daemon {

struct TemplateSource {
  std::string name;                                      // the template's name in the cache
  int dirFd = -1;                                        // <pool>/.templates
  std::string fileName;                                  // in dirFd
  std::string path;                                      // absolute: an overlay's backing file
  image::ImageFormat format = image::ImageFormat::kRaw;  // the template's, from its record
  bool overlay = false;
  // A spare to rename into place instead of cloning (in dirFd), and its filesystem UUID.
  std::string spareFile;
  std::string spareUuid;
  // An encrypted spare: when it cannot be moved into place the image is made cold, never cloned
  // from the (plaintext) template.
  bool encrypted = false;
};

struct BuildTask {
  ImageEngine* engine = nullptr;
  std::shared_ptr<UniqueFd> domainDir;
  StoredRecord stored;    // written once the image is made; createdUs is set then
  image::ImageSpec spec;  // uuid: the filesystem UUID to give
  uint64_t maxSize = 0;
  ProgressSink* progress = nullptr;
  // Content to stage into <pool>/.staging with its reader's rights checked (spec.contentDir is
  // then the staged copy); `poolFd` is the pool's directory.
  std::shared_ptr<const OpenedContent> content;
  int poolFd = -1;
  std::string passphrase;  // spec.encryption luks: the key of the image's only key slot
};

// Whether the record `r` is written with the directory's fsync. Not for a plain boot-lifetime
// image in a pool of this host's own (no `host`): one journal commit less in the hook's wait. A
// host crash may then lose its record, never leave half of one (the content is fsynced before it is
// named), and that costs nothing: the crash stopped the domain, whose boot images are released
// anyway, and recovery deletes an image without a record. Always for the rest: an encrypted image's
// key, kept after its record, would outlive a lost record; an incoming image is a migration's;
// another host leaves a shared pool's recordless image alone.
bool needsDurableRecordName(const ImageRecord& r);

struct BuildOutcome {
  Status status;
  bool cold = false;       // mkfs ran
  std::string cloneError;  // why a clone fell back to a cold build; empty when it did not
  StoredRecord stored;     // as written (templateName empty unless an overlay was made)
};

BuildOutcome buildImage(BuildTask task, const TemplateSource* source);

}  // namespace virtscratch::daemon
