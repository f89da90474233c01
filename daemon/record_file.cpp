#include "daemon/record_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "base/file_io.h"
#include "base/temp_file.h"
#include "daemon/file_modes.h"
#include "daemon/glib_ptr.h"
#include "daemon/shared_pool.h"
#include "vocabulary/discard.h"
#include "vocabulary/domain_uuid.h"
#include "vocabulary/image_id.h"
#include "vocabulary/target.h"

namespace virtscratch::daemon {
namespace {

constexpr const char* kGroup = "image";
constexpr int kVersion = 1;
constexpr off_t kMaxRecordSize = 64 * 1024;

class Reader {
 public:
  Reader(GKeyFile* file, std::string_view where) : file_(file), where_(where) {}

  Result<std::string> string(const char* key, bool required = true) {
    GError* raw = nullptr;
    GCharPtr value(g_key_file_get_string(file_, kGroup, key, &raw));
    ErrorPtr error(raw);
    if (error) {
      if (!required) return std::string();
      return bad(key, error->message);
    }
    return std::string(value.get());
  }

  Result<uint64_t> number(const char* key) {
    VS_ASSIGN_OR_RETURN(std::string text, string(key));
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
      return bad(key, "'" + text + "' is not a number");
    }
    errno = 0;
    unsigned long long v = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE) return bad(key, "'" + text + "' is too large");
    return static_cast<uint64_t>(v);
  }

  Status bad(const char* key, std::string_view why) const {
    return failed("record " + std::string(where_) + ": key '" + key + "': " + std::string(why));
  }

 private:
  GKeyFile* file_;
  std::string_view where_;
};

// Parses `text` with `parse` (one of image::parse*), naming the key on failure.
template <typename T, typename Parse>
Result<T> field(Reader& reader, const char* key, Parse parse) {
  VS_ASSIGN_OR_RETURN(std::string text, reader.string(key));
  auto value = parse(text);
  if (!value.ok()) return reader.bad(key, value.status().message());
  return *value;
}

}  // namespace

std::string recordFileName(std::string_view target) { return std::string(target) + ".record"; }

std::string serializeRecord(const StoredRecord& stored) {
  const ImageRecord& r = stored.record;
  KeyFilePtr file = newKeyFile();
  GKeyFile* f = file.get();
  g_key_file_set_integer(f, kGroup, "version", kVersion);
  g_key_file_set_string(f, kGroup, "domain", r.domainUuid.c_str());
  g_key_file_set_string(f, kGroup, "domain-name", r.domainName.c_str());
  g_key_file_set_string(f, kGroup, "target", r.target.c_str());
  g_key_file_set_string(f, kGroup, "format", std::string(toString(r.spec.format)).c_str());
  g_key_file_set_uint64(f, kGroup, "size", r.spec.size);
  g_key_file_set_string(f, kGroup, "filesystem", std::string(toString(r.spec.filesystem)).c_str());
  g_key_file_set_string(f, kGroup, "label", r.spec.label.c_str());
  g_key_file_set_string(f, kGroup, "uuid", r.spec.uuid.c_str());
  g_key_file_set_string(f, kGroup, "filesystem-uuid", r.filesystemUuid.c_str());
  g_key_file_set_string(f, kGroup, "partition", std::string(toString(r.spec.partition)).c_str());
  g_key_file_set_string(f, kGroup, "preallocation",
                        std::string(toString(r.spec.preallocation)).c_str());
  g_key_file_set_string(f, kGroup, "encryption", std::string(toString(r.spec.encryption)).c_str());
  g_key_file_set_string(f, kGroup, "lifetime",
                        std::string(vocabulary::toString(r.lifetime)).c_str());
  g_key_file_set_uint64(f, kGroup, "created", r.createdUs);
  g_key_file_set_string(f, kGroup, "template", stored.templateName.c_str());
  if (r.incoming) g_key_file_set_string(f, kGroup, "incoming", "true");
  g_key_file_set_string(f, kGroup, "discard",
                        std::string(vocabulary::discardName(r.discard)).c_str());
  if (!r.host.empty()) g_key_file_set_string(f, kGroup, "host", r.host.c_str());
  gsize length = 0;
  GCharPtr data(g_key_file_to_data(f, &length, nullptr));
  return std::string(data.get(), length);
}

Result<StoredRecord> parseRecord(std::string_view text, std::string_view where) {
  KeyFilePtr file = newKeyFile();
  GError* raw = nullptr;
  if (!g_key_file_load_from_data(file.get(), text.data(), text.size(), G_KEY_FILE_NONE, &raw)) {
    ErrorPtr error(raw);
    return failed("record " + std::string(where) + " cannot be read: " + error->message);
  }
  Reader reader(file.get(), where);
  VS_ASSIGN_OR_RETURN(uint64_t version, reader.number("version"));
  if (version != kVersion) {
    return reader.bad("version", "version " + std::to_string(version) + " is not known");
  }
  StoredRecord stored;
  ImageRecord& r = stored.record;
  VS_ASSIGN_OR_RETURN(r.domainUuid, reader.string("domain"));
  if (!vocabulary::isNormalisedUuid(r.domainUuid)) {
    return reader.bad("domain", "'" + r.domainUuid + "' is not a lower-case UUID");
  }
  VS_ASSIGN_OR_RETURN(r.domainName, reader.string("domain-name", false));
  VS_ASSIGN_OR_RETURN(r.target, reader.string("target"));
  if (Status s = vocabulary::validateTarget(r.target); !s.ok())
    return reader.bad("target", s.message());
  VS_ASSIGN_OR_RETURN(r.spec.format,
                      field<image::ImageFormat>(reader, "format", image::parseImageFormat));
  VS_ASSIGN_OR_RETURN(r.spec.size, reader.number("size"));
  VS_ASSIGN_OR_RETURN(r.spec.filesystem,
                      field<image::Filesystem>(reader, "filesystem", image::parseFilesystem));
  VS_ASSIGN_OR_RETURN(r.spec.label, reader.string("label", false));
  VS_ASSIGN_OR_RETURN(r.spec.uuid, reader.string("uuid", false));
  VS_ASSIGN_OR_RETURN(r.filesystemUuid, reader.string("filesystem-uuid", false));
  VS_ASSIGN_OR_RETURN(r.spec.partition, field<image::PartitionTable>(reader, "partition",
                                                                     image::parsePartitionTable));
  VS_ASSIGN_OR_RETURN(r.spec.preallocation, field<image::Preallocation>(reader, "preallocation",
                                                                        image::parsePreallocation));
  // Records written before encryption existed have no such key: those images are not encrypted.
  VS_ASSIGN_OR_RETURN(std::string encryption, reader.string("encryption", false));
  if (!encryption.empty()) {
    auto parsed = image::parseEncryption(encryption);
    if (!parsed.ok()) return reader.bad("encryption", parsed.status().message());
    r.spec.encryption = *parsed;
  }
  VS_ASSIGN_OR_RETURN(r.lifetime,
                      field<vocabulary::Lifetime>(reader, "lifetime", vocabulary::parseLifetime));
  VS_ASSIGN_OR_RETURN(r.createdUs, reader.number("created"));
  VS_ASSIGN_OR_RETURN(stored.templateName, reader.string("template", false));
  if (stored.templateName.find('/') != std::string::npos || stored.templateName == "." ||
      stored.templateName == "..") {
    return reader.bad("template", "'" + stored.templateName + "' is not a file name");
  }
  // Only the images of an incoming migration that has not run here have it.
  VS_ASSIGN_OR_RETURN(std::string incoming, reader.string("incoming", false));
  if (!incoming.empty() && incoming != "true" && incoming != "false") {
    return reader.bad("incoming", "'" + incoming + "' is neither true nor false");
  }
  r.incoming = incoming == "true";
  // Records written before discard existed have no such key: their images were sparse (discard)
  // unless preallocated, as an Allocate would settle it now with the default [pool] discard.
  VS_ASSIGN_OR_RETURN(std::string discard, reader.string("discard", false));
  r.discard = r.spec.preallocation == image::Preallocation::kOff;
  if (!discard.empty()) {
    auto parsed = vocabulary::parseDiscard(discard);
    if (!parsed.ok()) return reader.bad("discard", parsed.status().message());
    r.discard = *parsed;
  }
  // Only records of a shared pool name their owner.
  VS_ASSIGN_OR_RETURN(r.host, reader.string("host", false));
  if (!r.host.empty()) {
    if (Status s = validateHostName(r.host); !s.ok()) return reader.bad("host", s.message());
  }
  r.id = vocabulary::imageIdOf(r.domainUuid, r.target);
  r.state = ImageState::kReady;
  return stored;
}

Status writeRecordAt(int dirFd, const StoredRecord& stored, bool durableName) {
  std::string text = serializeRecord(stored);
  Status status = [&]() -> Status {
    VS_ASSIGN_OR_RETURN(TempFile file, TempFile::create(dirFd, kPrivateFileMode));
    VS_RETURN_IF_ERROR(writeAll(file.fd(), text.data(), text.size(), 0));
    return file.publish(recordFileName(stored.record.target), true, durableName);
  }();
  return status.withContext("writing the record of " + stored.record.id);
}

Result<StoredRecord> readRecordAt(int dirFd, std::string_view name, std::string_view where) {
  std::string n(name);
  UniqueFd fd(openat(dirFd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errnoStatus("open record " + std::string(where), errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat record " + std::string(where), errno);
  if (!S_ISREG(st.st_mode)) return failed("record " + std::string(where) + " is not a file");
  if (st.st_size > kMaxRecordSize) {
    return failed("record " + std::string(where) + " is too large to be a record");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  VS_RETURN_IF_ERROR(readAll(fd.get(), text.data(), text.size(), 0));
  return parseRecord(text, where);
}

}  // namespace virtscratch::daemon
