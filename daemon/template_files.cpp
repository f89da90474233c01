#include "daemon/template_files.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>

#include "base/file_io.h"
#include "base/temp_file.h"
#include "daemon/file_modes.h"
#include "daemon/glib_ptr.h"
#include "daemon/pool_recovery.h"
#include "image/filesystem.h"

namespace virtscratch::daemon {
namespace {

constexpr const char* kGroup = "template";

struct Description {
  std::string key;
  image::ImageFormat format = image::ImageFormat::kQcow2;
  image::Filesystem filesystem = image::Filesystem::kNone;
};

Result<Description> readDescription(int dirFd, const std::string& name) {
  std::string file = descriptionFileName(name);
  UniqueFd fd(openat(dirFd, file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errnoStatus("open " + file, errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > 65536) {
    return failed(file + " is not a template description");
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  VS_RETURN_IF_ERROR(readAll(fd.get(), text.data(), text.size(), 0));
  KeyFilePtr kf = newKeyFile();
  if (!g_key_file_load_from_data(kf.get(), text.data(), text.size(), G_KEY_FILE_NONE, nullptr)) {
    return failed(file + " cannot be parsed");
  }
  GCharPtr key(g_key_file_get_string(kf.get(), kGroup, "key", nullptr));
  GCharPtr format(g_key_file_get_string(kf.get(), kGroup, "format", nullptr));
  GCharPtr filesystem(g_key_file_get_string(kf.get(), kGroup, "filesystem", nullptr));
  if (!key || !format || !filesystem) return failed(file + " lacks a key");
  Description d;
  d.key = key.get();
  VS_ASSIGN_OR_RETURN(d.format, image::parseImageFormat(format.get()));
  VS_ASSIGN_OR_RETURN(d.filesystem, image::parseFilesystem(filesystem.get()));
  return d;
}

Status writeDescription(int dirFd, const std::string& name, const Description& d) {
  KeyFilePtr kf = newKeyFile();
  g_key_file_set_string(kf.get(), kGroup, "key", d.key.c_str());
  g_key_file_set_string(kf.get(), kGroup, "format", std::string(toString(d.format)).c_str());
  g_key_file_set_string(kf.get(), kGroup, "filesystem",
                        std::string(toString(d.filesystem)).c_str());
  gsize length = 0;
  GCharPtr data(g_key_file_to_data(kf.get(), &length, nullptr));
  VS_ASSIGN_OR_RETURN(TempFile file, TempFile::create(dirFd, kPrivateFileMode));
  VS_RETURN_IF_ERROR(writeAll(file.fd(), data.get(), length, 0));
  return file.publish(descriptionFileName(name), true);
}

std::string imageFile(const std::string& name, image::ImageFormat format) {
  return name + "." + std::string(toString(format));
}

// The UUID in a spare's name, or empty when `file` is not a spare of this template.
std::string spareUuid(const std::string& file, const TemplateCache::Entry& entry) {
  std::string prefix = entry.name + ".spare-";
  std::string suffix = "." + std::string(toString(entry.format));
  if (file.size() <= prefix.size() + suffix.size() || !file.starts_with(prefix) ||
      !file.ends_with(suffix)) {
    return {};
  }
  std::string uuid = file.substr(prefix.size(), file.size() - prefix.size() - suffix.size());
  return image::validateUuid(entry.filesystem, uuid).ok() ? uuid : std::string();
}

Result<uint64_t> allocatedAt(int dirFd, const std::string& file) {
  struct stat st;
  if (fstatat(dirFd, file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errnoStatus("stat " + file, errno);
  }
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// The template's file and its description: what the template holds on the host.
Result<uint64_t> templateBytesAt(int dirFd, const std::string& name, image::ImageFormat format) {
  VS_ASSIGN_OR_RETURN(uint64_t file, allocatedAt(dirFd, imageFile(name, format)));
  auto description = allocatedAt(dirFd, descriptionFileName(name));
  return file + (description.ok() ? *description : 0);
}

}  // namespace

std::string templateNameOf(const std::string& key) {
  uint64_t hash = 14695981039346656037ULL;  // FNV-1a
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

std::string descriptionFileName(const std::string& name) { return name + ".template"; }

Result<TemplateScan> scanTemplates(int dirFd, const std::set<std::string>& referenced) {
  TemplateScan scan;
  VS_ASSIGN_OR_RETURN(std::vector<std::string> names, listDirectory(dirFd));
  std::map<std::string, std::vector<std::string>> byStem;
  for (const std::string& name : names) {
    struct stat st;
    if (fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode)) {
      scan.leftAlone.push_back("'.templates/" + name + "'");
    } else if (isTemporaryName(name)) {
      scan.deleted += unlinkat(dirFd, name.c_str(), 0) == 0;
    } else {
      byStem[name.substr(0, name.find('.'))].push_back(name);
    }
  }
  auto removeAll = [&](const std::vector<std::string>& files) {
    for (const std::string& f : files) scan.deleted += unlinkat(dirFd, f.c_str(), 0) == 0;
  };
  for (const auto& [stem, files] : byStem) {
    auto description = readDescription(dirFd, stem);
    bool valid = description.ok() && templateNameOf(description->key) == stem;
    bool used = referenced.count(stem) != 0;
    TemplateCache::Entry entry;
    entry.name = stem;
    if (valid) {
      entry.key = description->key;
      entry.format = description->format;
      entry.filesystem = description->filesystem;
      entry.encrypted = TemplateCache::encryptedKey(entry.key);
    }
    auto allocated = templateBytesAt(dirFd, stem, entry.format);
    if (!allocated.ok() || !(valid || used)) {
      removeAll(files);
      continue;
    }
    for (const std::string& f : files) {
      if (f == imageFile(stem, entry.format) || f == descriptionFileName(stem)) continue;
      // An encrypted spare's key was in the memory of the daemon that made it.
      std::string uuid = valid && !entry.encrypted ? spareUuid(f, entry) : std::string();
      auto spareBytes = allocatedAt(dirFd, f);
      if (!uuid.empty() && spareBytes.ok() && entry.spares.size() < TemplateCache::kMaxSpares) {
        entry.spares.push_back({f, uuid, *spareBytes, {}});
      } else {
        scan.deleted += unlinkat(dirFd, f.c_str(), 0) == 0;
      }
    }
    entry.ready = true;
    entry.allocated = *allocated;
    scan.entries.push_back(std::move(entry));
  }
  return scan;
}

bool canReflink(int dirFd) {
  auto src = TempFile::create(dirFd);
  auto dst = TempFile::create(dirFd);
  if (!src.ok() || !dst.ok()) return false;
  std::vector<char> block(65536, 'x');
  if (!writeAll(src->fd(), block.data(), block.size(), 0).ok()) return false;
  return ioctl(dst->fd(), FICLONE, src->fd()) == 0;
}

Result<uint64_t> buildTemplate(ImageEngine& engine, int dirFd, const std::string& name,
                               const std::string& key, image::ImageSpec spec, uint64_t maxSize) {
  spec.uuid.clear();
  std::string file = imageFile(name, spec.format);
  image::CreateOptions options;
  options.force = true;  // a stale file of a template that was being built when we crashed
  options.maxSize = maxSize;
  options.mode = kPrivateFileMode;
  options.writeZeros = TemplateCache::rawLuksKey(key);
  VS_RETURN_IF_ERROR(engine.create(dirFd, file, spec, options));
  Status described = writeDescription(dirFd, name, {key, spec.format, spec.filesystem});
  auto allocated =
      described.ok() ? templateBytesAt(dirFd, name, spec.format) : Result<uint64_t>(described);
  if (!allocated.ok()) {
    unlinkat(dirFd, file.c_str(), 0);
    unlinkat(dirFd, descriptionFileName(name).c_str(), 0);
  }
  return allocated;
}

Result<TemplateCache::Spare> buildSpare(ImageEngine& engine, int dirFd,
                                        const std::string& templateFile,
                                        const std::string& templatePath, image::ImageFormat format,
                                        const std::string& file, const std::string& uuid,
                                        bool overlay) {
  UniqueFd fd(openat(dirFd, templateFile.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return errnoStatus("open template " + templatePath, errno);
  image::CloneOptions options;
  options.source.format = format;  // the daemon's record, never the content; no backing
  options.backing = overlay;
  options.filesystemUuid = uuid;
  options.mode = kPrivateFileMode;
  VS_RETURN_IF_ERROR(engine.clone(fd.get(), templatePath, dirFd, file, options));
  auto allocated = allocatedAt(dirFd, file);
  if (!allocated.ok()) {
    unlinkat(dirFd, file.c_str(), 0);
    return allocated.status();
  }
  return TemplateCache::Spare{file, uuid, *allocated, {}};
}

Result<TemplateCache::Spare> buildEncryptedSpare(ImageEngine& engine, int dirFd,
                                                 const std::string& templateFile,
                                                 const std::string& templatePath,
                                                 const std::string& file, const std::string& uuid,
                                                 image::ImageFormat format,
                                                 const std::string& passphrase) {
  // The plaintext with the spare's filesystem UUID, beside the template for as long as it takes
  // to encrypt it; a crash leaves a file the next scan deletes (it is no spare).
  std::string plain = file.substr(0, file.find('.')) + ".plain-" + uuid + ".raw";
  VS_ASSIGN_OR_RETURN(TemplateCache::Spare clear,
                      buildSpare(engine, dirFd, templateFile, templatePath,
                                 image::ImageFormat::kRaw, plain, uuid, false));
  Status encrypted = [&]() -> Status {
    UniqueFd fd(openat(dirFd, plain.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return errnoStatus("open " + plain, errno);
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return errnoStatus("stat " + plain, errno);
    return engine.encryptRaw(fd.get(), static_cast<uint64_t>(st.st_size), dirFd, file, format,
                             passphrase, kPrivateFileMode);
  }();
  unlinkat(dirFd, plain.c_str(), 0);
  VS_RETURN_IF_ERROR(encrypted);
  auto allocated = allocatedAt(dirFd, file);
  if (!allocated.ok()) {
    unlinkat(dirFd, file.c_str(), 0);
    return allocated.status();
  }
  return TemplateCache::Spare{file, uuid, *allocated, passphrase};
}

}  // namespace virtscratch::daemon
