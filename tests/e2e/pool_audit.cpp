#include "tests/e2e/pool_audit.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "tests/support/json_value.h"

namespace virtscratch::test {
namespace {

bool allOf(const std::string& s, const char* chars) {
  return !s.empty() && s.find_first_not_of(chars) == std::string::npos;
}
bool isUuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : std::string("0123456789abcdef").find(s[i]) == std::string::npos) {
      return false;
    }
  }
  return true;
}
bool isFormat(const std::string& s) { return s == "qcow2" || s == "raw"; }
std::string fileType(const std::filesystem::directory_entry& e) {
  std::error_code error;
  if (e.is_symlink(error)) return "symlink";
  if (e.is_directory(error)) return "directory";
  return "special file";
}

// The value of `key=` in a template's description.
std::string descriptionValue(const std::string& text, const std::string& key) {
  size_t at = text.find("\n" + key + "=");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return text.substr(at, text.find('\n', at) - at);
}

void auditTemplates(const std::string& dir, PoolAudit& out) {
  namespace fs = std::filesystem;
  constexpr char kHex[] = "0123456789abcdef";
  std::map<std::string, std::string> images, descriptions;                // stem -> format / text
  std::vector<std::tuple<std::string, std::string, std::string>> spares;  // file, stem, format
  std::error_code error;
  for (const auto& e : fs::directory_iterator(dir, error)) {
    std::string name = e.path().filename();
    if (!e.is_regular_file(error) || e.is_symlink(error)) {
      out.unexpected.push_back(".templates/" + name + " (" + fileType(e) + ")");
      continue;
    }
    std::string stem = name.substr(0, name.find('.'));
    std::string rest = name.find('.') == std::string::npos ? "" : name.substr(name.find('.') + 1);
    bool named = stem.size() == 16 && allOf(stem, kHex);
    if (named && isFormat(rest)) {
      images[stem] = rest;
    } else if (named && rest == "template") {
      descriptions[stem] = "\n" + readFile(e.path());
    } else if (named && rest.starts_with("spare-") && rest.find('.') != std::string::npos &&
               isFormat(rest.substr(rest.rfind('.') + 1))) {
      spares.emplace_back(name, stem, rest.substr(rest.rfind('.') + 1));
    } else {
      out.unexpected.push_back(".templates/" + name + " (not a template file)");
    }
  }
  for (const auto& [stem, format] : images) {
    auto d = descriptions.find(stem);
    // Without its description a template is kept only while overlays are backed by it: audited
    // with the images (qemu-img check follows the backing file).
    std::string filesystem =
        d == descriptions.end() ? "" : descriptionValue(d->second, "filesystem");
    out.templates.push_back({dir + "/" + stem + "." + format, format, filesystem});
  }
  for (const auto& [stem, text] : descriptions) {
    if (images.count(stem) == 0) {
      out.unexpected.push_back(".templates/" + stem + ".template (no template beside it)");
    }
  }
  for (const auto& [file, stem, format] : spares) {
    auto d = descriptions.find(stem);
    if (images.count(stem) == 0 || d == descriptions.end()) {
      out.unexpected.push_back(".templates/" + file + " (a spare of no template)");
      continue;
    }
    out.templates.push_back({dir + "/" + file, format, descriptionValue(d->second, "filesystem")});
  }
}

}  // namespace

std::string compactUuid(std::string uuid) {
  uuid.erase(std::remove(uuid.begin(), uuid.end(), '-'), uuid.end());
  return uuid;
}

std::vector<ListedImage> listImages(const CommandResult& r, std::string* error) {
  std::vector<ListedImage> images;
  if (r.exitCode != 0) {
    *error = "virt-scratch list failed: " + r.err;
    return images;
  }
  error->clear();
  Json all = Json::parse(r.out);
  for (const Json& o : all.array()) {
    images.push_back({o["id"].str(), o["path"].str(), o["domain"].str(), o["target"].str(),
                      o["format"].str(), o["filesystem"].str(), o["lifetime"].str(),
                      o["virtual-size"].u64()});
  }
  return images;
}

std::string compareListing(const std::vector<ListedImage>& listed,
                           const std::set<std::string>& mustExist,
                           const std::set<std::string>& mustBeGone,
                           const std::set<std::string>& mayExist) {
  std::set<std::string> ids;
  for (const ListedImage& image : listed) ids.insert(image.id);
  std::string lost, kept, unexpected;
  for (const std::string& id : mustExist) {
    if (ids.count(id) == 0) lost += " " + id;
  }
  for (const std::string& id : ids) {
    if (mustBeGone.count(id) != 0) {
      kept += " " + id;
    } else if (mustExist.count(id) == 0 && mayExist.count(id) == 0) {
      unexpected += " " + id;
    }
  }
  std::string problem;
  if (!lost.empty()) problem += "lost:" + lost + "\n";
  if (!kept.empty()) problem += "not released:" + kept + "\n";
  if (!unexpected.empty()) problem += "nobody asked for:" + unexpected + "\n";
  return problem;
}

PoolAudit auditPoolFiles(const std::string& pool, const std::vector<ListedImage>& listed) {
  namespace fs = std::filesystem;
  PoolAudit out;
  std::set<std::string> listedPaths, found;
  for (const ListedImage& image : listed) listedPaths.insert(image.path);
  std::error_code error;
  for (const auto& dir : fs::directory_iterator(pool, error)) {
    std::string name = dir.path().filename();
    if (name == ".templates" && dir.is_directory(error) && !dir.is_symlink(error)) {
      auditTemplates(dir.path(), out);
      continue;
    }
    if (name == ".released" && dir.is_directory(error) && !dir.is_symlink(error)) {
      // Released image files wait here for a worker to unlink them: none may stay.
      for (const auto& e : fs::directory_iterator(dir.path(), error)) {
        out.unexpected.push_back(name + "/" + e.path().filename().string() +
                                 " (a released file not deleted)");
      }
      continue;
    }
    if (!dir.is_directory(error) || dir.is_symlink(error) || !isUuid(name)) {
      out.unexpected.push_back(name + " (not a domain directory)");
      continue;
    }
    std::map<std::string, int> targets;  // bit 1: image, bit 2: record
    int entries = 0;
    for (const auto& e : fs::directory_iterator(dir.path(), error)) {
      ++entries;
      std::string file = e.path().filename();
      std::string shown = name + "/" + file;
      size_t dot = file.find('.');
      std::string target = file.substr(0, dot);
      std::string suffix = dot == std::string::npos ? "" : file.substr(dot + 1);
      if (!e.is_regular_file(error) || e.is_symlink(error)) {
        out.unexpected.push_back(shown + " (" + fileType(e) + ")");
      } else if (!allOf(target, "abcdefghijklmnopqrstuvwxyz0123456789")) {
        out.unexpected.push_back(shown + " (not a pool file: temporary?)");
      } else if (isFormat(suffix)) {
        targets[target] |= 1;
        found.insert(e.path());
        if (listedPaths.count(e.path()) == 0) {
          out.unexpected.push_back(shown + " (an image the daemon does not list)");
        }
      } else if (suffix == "record") {
        targets[target] |= 2;
      } else {
        out.unexpected.push_back(shown + " (not a pool file)");
      }
    }
    if (entries == 0) out.unexpected.push_back(name + " (an empty domain directory)");
    for (const auto& [target, bits] : targets) {
      if (bits == 1) out.unexpected.push_back(name + "/" + target + " (an image without record)");
      if (bits == 2) out.unexpected.push_back(name + "/" + target + " (a record without image)");
    }
  }
  for (const std::string& path : listedPaths) {
    if (found.count(path) == 0) out.unexpected.push_back(path + " (listed, but no such file)");
  }
  return out;
}

std::string ImageChecker::check(const std::string& path, const std::string& format,
                                const std::string& filesystem) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return path + " is gone";
  auto key = std::make_tuple(uint64_t(st.st_ino), int64_t(st.st_size),
                             int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
                             int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec);
  auto seen = clean_.find(path);
  if (seen != clean_.end() && seen->second == key) return "";
  std::string problem = runChecks(path, format, filesystem);
  if (problem.empty()) clean_[path] = key;
  ++checked_;
  return problem;
}

uint64_t ImageChecker::virtualSize(const std::string& path) {
  CommandResult r = run({"qemu-img", "info", "-U", "--output=json", path});
  if (r.exitCode != 0) return 0;
  return Json::parse(r.out)["virtual-size"].u64();
}

std::string ImageChecker::runChecks(const std::string& path, const std::string& format,
                                    const std::string& filesystem) {
  CommandResult r = format == "qcow2" ? run({"qemu-img", "check", "-U", "-f", "qcow2", path})
                                      : run({"qemu-img", "info", "-U", "-f", "raw", path});
  if (r.exitCode != 0) return "qemu-img on " + path + ": " + r.out + r.err;
  if (!filesystem.starts_with("ext")) return "";
  std::string raw = path;
  if (format != "raw") {
    raw = scratch_;
    r = run({"qemu-img", "convert", "-U", "-f", format, "-O", "raw", path, raw});
    if (r.exitCode != 0) return "qemu-img convert " + path + ": " + r.err;
  }
  r = run({"e2fsck", "-fn", raw});
  if (raw == scratch_) std::filesystem::remove(raw);
  if (r.exitCode != 0) return "e2fsck -fn " + path + " (" + format + "): " + r.out + r.err;
  return "";
}

std::string checkExport(const std::string& gz, uint64_t size) {
  CommandResult r = run({"gzip", "-t", "--", gz});
  if (r.exitCode != 0) return gz + " is not a whole gzip stream: " + r.err;
  if (size == 0) return "";
  // "compressed uncompressed ratio name", once per file.
  r = run({"gzip", "-lq", "--", gz});
  uint64_t compressed = 0, got = 0;
  if (r.exitCode != 0 || std::sscanf(r.out.c_str(), "%lu %lu", &compressed, &got) != 2) {
    return "gzip -l " + gz + ": " + r.out + r.err;
  }
  if (got != size % (uint64_t{1} << 32)) {
    return gz + " holds " + std::to_string(got) + " bytes, not " + std::to_string(size);
  }
  return "";
}

PoolStatus poolStatus(const CommandResult& r) {
  PoolStatus status;
  if (r.exitCode != 0) return status;
  Json object = Json::parse(r.out);
  status.ok = true;
  status.used = object["used"].u64();
  status.images = object["images"].u64();
  return status;
}

}  // namespace virtscratch::test
