// loadConfig: each file is parsed with GKeyFile; since GKeyFile keeps no line numbers, errors
// find the line of the key themselves by scanning the file's text the way GKeyFile reads it.
#include "daemon/config.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <string_view>
#include <tuple>

#include "base/file_io.h"
#include "base/unique_fd.h"
#include "daemon/glib_ptr.h"
#include "daemon/shared_pool.h"
#include "image/size.h"
#include "vocabulary/discard.h"

namespace virtscratch::daemon {
namespace {

// How much of a key or value an error quotes at each end (image::elided).
constexpr size_t kQuotedBytes = 500;

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Line numbers of groups and keys in a file's text.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) {
    std::string group;
    int number = 0;
    size_t pos = 0;
    while (pos <= text.size()) {
      size_t end = text.find('\n', pos);
      if (end == std::string_view::npos) end = text.size();
      std::string_view line = trimmed(text.substr(pos, end - pos));
      ++number;
      if (!line.empty() && line.front() == '[') {
        size_t close = line.find(']');
        group = std::string(line.substr(1, close == std::string_view::npos ? 0 : close - 1));
        if (groupLines_.find(group) == groupLines_.end()) groupLines_[group] = number;
      } else if (!line.empty() && line.front() != '#') {
        size_t eq = line.find('=');
        if (eq != std::string_view::npos) {
          keyLines_[group + "\n" + std::string(trimmed(line.substr(0, eq)))] = number;
        }
      }
      pos = end + 1;
    }
  }
  int group(const std::string& g) const {
    auto it = groupLines_.find(g);
    return it == groupLines_.end() ? 0 : it->second;
  }
  // A key with a locale ("path[de]"): GKeyFile keeps it out of the key list, so without this
  // check it would be ignored in silence. Returns the group, the key and its line, or a line of 0.
  std::tuple<std::string, std::string, int> localizedKey() const {
    for (const auto& [groupAndKey, line] : keyLines_) {
      size_t newline = groupAndKey.find('\n');
      std::string key = groupAndKey.substr(newline + 1);
      if (key.find('[') != std::string::npos) return {groupAndKey.substr(0, newline), key, line};
    }
    return {"", "", 0};
  }
  // The last line that sets the key: the one whose value GKeyFile keeps.
  int key(const std::string& g, const std::string& k) const {
    auto it = keyLines_.find(g + "\n" + k);
    return it == keyLines_.end() ? group(g) : it->second;
  }

 private:
  std::map<std::string, int> groupLines_;
  std::map<std::string, int> keyLines_;
};

struct Place {
  const std::string& file;
  const LineIndex& lines;
};

std::string where(const Place& place, int line) {
  return place.file + ":" + std::to_string(line) + ": ";
}

Status keyError(const Place& place, const std::string& group, const std::string& key,
                const std::string& why) {
  return invalidArgument(where(place, place.lines.key(group, key)) + "[" + group + "] " +
                         elided(key, kQuotedBytes) + ": " + elided(why, kQuotedBytes));
}

// Sizes as image/size.h reads them, or 0/none for "no limit".
Result<uint64_t> parseLimit(const std::string& text) {
  if (text == "0" || text == "none") return uint64_t{0};
  return image::parseSize(text, UINT64_MAX);
}

// "5%" or "2.5%": a share of the pool's filesystem, below 100%.
Result<double> parsePercent(const std::string& text) {
  std::string number = text.substr(0, text.size() - 1);
  char* end = nullptr;
  double value = number.empty() ? -1 : std::strtod(number.c_str(), &end);
  bool digits = number.find_first_not_of("0123456789.") == std::string::npos;
  if (!digits || end == nullptr || *end != '\0' || !(value >= 0 && value < 100)) {
    return invalidArgument("invalid percentage '" + text +
                           "' (write a share of the pool's filesystem from 0% to below 100%, "
                           "for example 5%, or a size)");
  }
  return value;
}

// A size (`percent` set to -1) or a share of the pool's filesystem (`bytes` set to 0).
Status sizeOrPercent(const std::string& text, uint64_t& bytes, double& percent) {
  if (!text.empty() && text.back() == '%') {
    VS_ASSIGN_OR_RETURN(percent, parsePercent(text));
    bytes = 0;
    return {};
  }
  VS_ASSIGN_OR_RETURN(bytes, parseLimit(text));
  percent = -1;
  return {};
}

Result<uint32_t> parseCount(const std::string& text, uint32_t max) {
  size_t digits = text.find_first_not_of("0123456789");
  uint64_t value = text.size() <= 9 && digits == std::string::npos && !text.empty()
                       ? std::strtoull(text.c_str(), nullptr, 10)
                       : 0;
  if (value == 0 || value > max) {
    return invalidArgument("invalid count '" + text + "' (write a whole number from 1 to " +
                           std::to_string(max) + ")");
  }
  return static_cast<uint32_t>(value);
}

Status checkGroupName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 32 &&
            (std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name) {
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  }
  if (!ok) return invalidArgument("'" + name + "' is not a group name");
  return {};
}

// A path for messages: control characters shown as '?', so that one line stays one line.
std::string shown(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

Result<std::string> absolutePath(const std::string& text) {
  if (text.empty() || text.front() != '/') {
    return invalidArgument("'" + shown(text) + "' is not an absolute path");
  }
  if (text.size() >= PATH_MAX) {
    return invalidArgument("the path of " + std::to_string(text.size()) +
                           " bytes is too long (the limit is " + std::to_string(PATH_MAX - 1) +
                           ")");
  }
  // Paths end up in log lines, records and messages; a newline in one would forge them.
  if (shown(text) != text) {
    return invalidArgument("'" + shown(text) + "' holds a control character");
  }
  std::string normal = std::filesystem::path(text).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  if (normal == "/") return invalidArgument("'" + text + "' is the root directory");
  return normal;
}

Result<std::string> contentRoot(const std::string& text) {
  VS_ASSIGN_OR_RETURN(std::string path, absolutePath(text));
  char resolved[PATH_MAX];
  if (realpath(path.c_str(), resolved) == nullptr) {
    return errnoStatus("content root '" + text + "'", errno);
  }
  struct stat st;
  if (stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return invalidArgument("content root '" + text + "' is not a directory");
  }
  return std::string(resolved);
}

using Setter =
    std::function<Status(GKeyFile*, const std::string& group, const std::string& key, Config&)>;

Result<std::string> stringValue(GKeyFile* file, const std::string& group, const std::string& key) {
  GError* raw = nullptr;
  GCharPtr value(g_key_file_get_string(file, group.c_str(), key.c_str(), &raw));
  ErrorPtr error(raw);
  if (error) return invalidArgument(error->message);
  return std::string(trimmed(value.get()));
}

// A setter for a key holding one string, converted by `convert`.
template <typename Convert>
Setter scalar(Convert convert) {
  return [convert](GKeyFile* file, const std::string& group, const std::string& key,
                   Config& config) -> Status {
    VS_ASSIGN_OR_RETURN(std::string text, stringValue(file, group, key));
    return convert(text, config);
  };
}

struct KeySpec {
  const char* group;
  const char* key;
  Setter set;
};

const std::vector<KeySpec>& keySpecs() {
  static const std::vector<KeySpec> specs = {
      {"pool", "path", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.poolPath, absolutePath(t));
         return {};
       })},
      {"pool", "quota", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.poolQuota, parseLimit(t));
         return {};
       })},
      {"pool", "reserve", scalar([](const std::string& t, Config& c) -> Status {
         return sizeOrPercent(t, c.poolReserve, c.poolReservePercent);
       })},
      {"pool", "encryption", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.poolEncryption, image::parseEncryption(t));
         return {};
       })},
      {"pool", "discard", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.poolDiscard, vocabulary::parseDiscard(t));
         return {};
       })},
      {"pool", "quota-allocated", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.poolQuotaAllocated, parseLimit(t));
         return {};
       })},
      {"pool", "high-water", scalar([](const std::string& t, Config& c) -> Status {
         return sizeOrPercent(t, c.poolHighWater, c.poolHighWaterPercent);
       })},
      {"pool", "refresh", scalar([](const std::string& t, Config& c) -> Status {
         // A day at most: a mark crossed is heard about within that.
         VS_ASSIGN_OR_RETURN(c.refreshSeconds, parseCount(t, 86400));
         return {};
       })},
      {"pool", "shared", scalar([](const std::string& t, Config& c) -> Status {
         if (t == "yes" || t == "true") {
           c.poolShared = true;
         } else if (t == "no" || t == "false") {
           c.poolShared = false;
         } else {
           return invalidArgument("'" + elided(t, kQuotedBytes) + "' is neither yes nor no");
         }
         return {};
       })},
      {"pool", "host", scalar([](const std::string& t, Config& c) -> Status {
         if (!t.empty()) VS_RETURN_IF_ERROR(validateHostName(t));
         c.poolHost = t;
         return {};
       })},
      {"templates", "mode", scalar([](const std::string& t, Config& c) -> Status {
         if (t == "reflink") {
           c.templateMode = TemplateMode::kReflink;
         } else if (t == "overlay") {
           c.templateMode = TemplateMode::kOverlay;
         } else if (t == "off") {
           c.templateMode = TemplateMode::kOff;
         } else {
           return invalidArgument("unknown mode '" + t +
                                  "' (choose one of: reflink, overlay, off)");
         }
         return {};
       })},
      {"templates", "budget", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.templateBudget, parseLimit(t));
         return {};
       })},
      {"limits", "max-size", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.maxImageSize, image::parseSize(t, image::kDefaultMaxImageSize));
         return {};
       })},
      {"limits", "disks-per-domain", scalar([](const std::string& t, Config& c) -> Status {
         // Target names are at most a few letters; 1024 is far past any bus's slots.
         VS_ASSIGN_OR_RETURN(c.disksPerDomain, parseCount(t, 1024));
         return {};
       })},
      {"jobs", "exports", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.concurrentExports, parseCount(t, 64));
         return {};
       })},
      {"jobs", "queue", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.queueLimit, parseCount(t, 65536));
         return {};
       })},
      {"access", "group", scalar([](const std::string& t, Config& c) -> Status {
         VS_RETURN_IF_ERROR(checkGroupName(t));
         c.accessGroup = t;
         return {};
       })},
      {"content", "roots",
       [](GKeyFile* file, const std::string& group, const std::string& key,
          Config& config) -> Status {
         GError* raw = nullptr;
         gsize count = 0;
         StrvPtr list(g_key_file_get_string_list(file, group.c_str(), key.c_str(), &count, &raw));
         ErrorPtr error(raw);
         if (error) return invalidArgument(error->message);
         std::vector<std::string> roots;
         for (gsize i = 0; i < count; ++i) {
           std::string text(trimmed(list.get()[i]));
           if (text.empty()) continue;
           VS_ASSIGN_OR_RETURN(std::string root, contentRoot(text));
           roots.push_back(std::move(root));
         }
         config.contentRoots = std::move(roots);
         return {};
       }},
      {"metrics", "textfile", scalar([](const std::string& t, Config& c) -> Status {
         if (t.empty()) {
           c.metricsTextfile.clear();
           return {};
         }
         VS_ASSIGN_OR_RETURN(std::string path, absolutePath(t));
         if (!path.ends_with(".prom") || path.ends_with("/.prom")) {
           return invalidArgument("'" + path +
                                  "' does not end in .prom, and node_exporter's textfile "
                                  "collector reads only NAME.prom files");
         }
         c.metricsTextfile = std::move(path);
         return {};
       })},
      {"libvirt", "uri", scalar([](const std::string& t, Config& c) -> Status {
         c.libvirtUri = t;
         return {};
       })},
      {"hook", "timeout", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.hookTimeoutMs, vocabulary::parseHookTimeout(t));
         return {};
       })},
      {"hook", "fail", scalar([](const std::string& t, Config& c) -> Status {
         VS_ASSIGN_OR_RETURN(c.hookFail, vocabulary::parseHookFailMode(t));
         return {};
       })},
  };
  return specs;
}

std::string knownKeys(const std::string& group) {
  std::string known;
  for (const KeySpec& spec : keySpecs()) {
    if (group != spec.group) continue;
    if (!known.empty()) known += ", ";
    known += spec.key;
  }
  return known;
}

std::string knownGroups() {
  std::string known;
  for (const KeySpec& spec : keySpecs()) {
    std::string g = spec.group;
    if (known.find("[" + g + "]") == std::string::npos) {
      known += (known.empty() ? "[" : ", [") + g + "]";
    }
  }
  return known;
}

// GKeyFile's syntax errors quote the bad line (“...”) but give no number; find it.
std::string lineOfSyntaxError(std::string_view text, std::string_view message) {
  size_t first = message.find("\u201c");  // 3 bytes in UTF-8, like its partner
  size_t last = message.rfind("\u201d");
  if (first == std::string_view::npos || last == std::string_view::npos || last < first) {
    return "";
  }
  std::string_view quoted = message.substr(first + 3, last - first - 3);
  int number = 1;
  for (size_t pos = 0; pos <= text.size(); ++number) {
    size_t end = std::min(text.find('\n', pos), text.size());
    if (trimmed(text.substr(pos, end - pos)) == trimmed(quoted)) {
      return std::to_string(number) + ":";
    }
    pos = end + 1;
  }
  return "";
}

// Reads a file whole; a missing file is kNotFound.
Result<std::string> readText(const std::string& path) {
  // O_NONBLOCK: a FIFO planted as the file must be refused, not wait for a writer.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errnoStatus("cannot read configuration '" + path + "'", errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + path + "'", errno);
  if (!S_ISREG(st.st_mode)) return invalidArgument("configuration '" + path + "' is not a file");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  VS_RETURN_IF_ERROR(readAll(fd.get(), text.data(), text.size(), 0)
                         .withContext("cannot read configuration '" + path + "'"));
  return text;
}

Status applyFile(const std::string& path, const std::string& text, Config& config) {
  // GKeyFile would stop reading a line at a NUL byte and keep the rest of it in silence.
  if (size_t nul = text.find('\0'); nul != std::string::npos) {
    int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + nul, '\n'));
    return invalidArgument(path + ":" + std::to_string(line) + ": a NUL byte at offset " +
                           std::to_string(nul) + "; a configuration file is text");
  }
  KeyFilePtr file = newKeyFile();
  GError* raw = nullptr;
  if (!g_key_file_load_from_data(file.get(), text.data(), text.size(), G_KEY_FILE_NONE, &raw)) {
    ErrorPtr error(raw);
    return invalidArgument(path + ":" + lineOfSyntaxError(text, error->message) + " " +
                           error->message);
  }
  LineIndex lines(text);
  Place place{path, lines};
  if (auto [group, key, line] = lines.localizedKey(); line != 0) {
    return invalidArgument(where(place, line) + "[" + group + "] " + elided(key, kQuotedBytes) +
                           ": unknown key (keys have no locale variants here)");
  }
  gsize groupCount = 0;
  StrvPtr groups(g_key_file_get_groups(file.get(), &groupCount));
  for (gsize g = 0; g < groupCount; ++g) {
    std::string group = groups.get()[g];
    if (knownKeys(group).empty()) {
      return invalidArgument(where(place, lines.group(group)) + "unknown group [" + group +
                             "] (known: " + knownGroups() + ")");
    }
    gsize keyCount = 0;
    StrvPtr keys(g_key_file_get_keys(file.get(), group.c_str(), &keyCount, nullptr));
    for (gsize k = 0; k < keyCount; ++k) {
      std::string key = keys.get()[k];
      auto spec = std::find_if(keySpecs().begin(), keySpecs().end(),
                               [&](const KeySpec& s) { return group == s.group && key == s.key; });
      if (spec == keySpecs().end()) {
        return keyError(place, group, key,
                        "unknown key (known in [" + group + "]: " + knownKeys(group) + ")");
      }
      Status status = spec->set(file.get(), group, key, config);
      if (!status.ok()) return keyError(place, group, key, status.message());
    }
  }
  return {};
}

// Drop-in names in `dir`, sorted: regular *.conf files not starting with a dot.
Result<std::vector<std::string>> dropIns(const std::string& dir) {
  std::vector<std::string> names;
  DIR* raw = opendir(dir.c_str());
  if (raw == nullptr) {
    if (errno == ENOENT) return names;
    return errnoStatus("cannot read the drop-in directory '" + dir + "'", errno);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> d(raw, closedir);
  while (dirent* e = readdir(d.get())) {
    std::string name = e->d_name;
    if (name.empty() || name.front() == '.' || name.size() <= 5 ||
        name.compare(name.size() - 5, 5, ".conf") != 0) {
      continue;
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Result<Config> loadConfig(const std::string& path) {
  Config config;
  auto main = readText(path);
  if (main.ok()) {
    VS_RETURN_IF_ERROR(applyFile(path, *main, config));
  } else if (main.status().code() != ErrorCode::kNotFound) {
    return main.status();
  }
  std::string dir = path + ".d";
  VS_ASSIGN_OR_RETURN(std::vector<std::string> names, dropIns(dir));
  for (const std::string& name : names) {
    std::string file = dir + "/" + name;
    VS_ASSIGN_OR_RETURN(std::string text, readText(file));
    VS_RETURN_IF_ERROR(applyFile(file, text, config));
  }
  if (config.poolShared && config.templateMode == TemplateMode::kOverlay) {
    return invalidArgument(path +
                           ": [pool] shared = yes and [templates] mode = overlay do not go "
                           "together: an overlay's template is one host's and another host "
                           "could not open it; use mode = reflink or off");
  }
  return config;
}

std::vector<std::string> keysNeedingRestart(const Config& running, const Config& next) {
  std::vector<std::string> keys;
  if (running.poolPath != next.poolPath) keys.push_back("[pool] path");
  if (running.templateMode != next.templateMode) keys.push_back("[templates] mode");
  if (running.templateBudget != next.templateBudget) keys.push_back("[templates] budget");
  if (running.libvirtUri != next.libvirtUri) keys.push_back("[libvirt] uri");
  if (running.queueLimit != next.queueLimit) keys.push_back("[jobs] queue");
  if (running.refreshSeconds != next.refreshSeconds) keys.push_back("[pool] refresh");
  if (running.poolShared != next.poolShared) keys.push_back("[pool] shared");
  if (running.poolHost != next.poolHost) keys.push_back("[pool] host");
  if (running.metricsTextfile != next.metricsTextfile) keys.push_back("[metrics] textfile");
  return keys;
}

}  // namespace virtscratch::daemon
