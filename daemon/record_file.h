// The record file of one image, `<pool>/<domain uuid>/<target>.record`: a GKeyFile that says
// what the image is, so that the pool can be rebuilt after a restart or a crash. Written to an
// unnamed temporary file, fsynced and renamed over the old one, so a reader sees a whole record
// or none. Callable from any thread (each call touches only the directory it is given).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"
#include "daemon/image_record.h"
#include "image/spec.h"

namespace virtscratch::daemon {

struct StoredRecord {
  ImageRecord record;
  // The template an overlay is backed by (its name in <pool>/.templates/); empty for images that
  // stand alone. A template in use is never evicted.
  std::string templateName;
};

// "<target>.record", beside the image's vocabulary::imageFileName.
std::string recordFileName(std::string_view target);

// The record as text, and back. parseRecord checks every field; `where` names the file in
// messages. The id, path and state are not stored: the pool derives them.
std::string serializeRecord(const StoredRecord& stored);
Result<StoredRecord> parseRecord(std::string_view text, std::string_view where);

// Writes `<target>.record` in the domain directory `dirFd` atomically (replacing an old one).
// Its content is on disk before it has its name; with `durableName` false the name itself may
// be lost in a host crash (TempFile::publish), which only a record that recovery may miss can
// afford: see needsDurableRecordName (image_builder.h).
Status writeRecordAt(int dirFd, const StoredRecord& stored, bool durableName = true);
// Reads a record file (a regular file, never through a symlink).
Result<StoredRecord> readRecordAt(int dirFd, std::string_view name, std::string_view where);

}  // namespace virtscratch::daemon
