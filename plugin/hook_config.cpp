#include "plugin/hook_config.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iterator>
#include <optional>
#include <sstream>
#include <string_view>
#include <vector>

#include "base/file_io.h"
#include "base/unique_fd.h"

namespace virtscratch::hook {
namespace {

// The configuration's groups (daemon/config.cpp keySpecs): the hook reads only [hook], but a
// group the daemon does not know is a mistake it reports as the daemon does.
// tests/integration/hook (HookTest.ReadsTheShippedConfiguration) keeps the two lists together.
constexpr std::string_view kGroups[] = {"pool", "templates", "access", "content", "libvirt",
                                        "hook", "limits",    "jobs",   "metrics"};

std::string_view strip(std::string_view s) {
  size_t first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

// Applies the [hook] keys of one file's text.
Status applyText(const std::string& file, const std::string& text, HookConfig& config) {
  std::istringstream in(text);
  std::string raw, group;
  for (int number = 1; std::getline(in, raw); ++number) {
    std::string_view line = strip(raw);
    auto where = [&](std::string_view key) {
      return file + ":" + std::to_string(number) + ": [hook] " + std::string(key) + ": ";
    };
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '[') {
      if (line.back() != ']') {
        return invalidArgument(file + ":" + std::to_string(number) + ": '" + elided(line, 100) +
                               "' is not a group header");
      }
      group = std::string(line.substr(1, line.size() - 2));
      if (std::find(std::begin(kGroups), std::end(kGroups), group) == std::end(kGroups)) {
        // The daemon would refuse to start with it: a typo ([hooks]) must not pass in silence.
        return invalidArgument(file + ":" + std::to_string(number) + ": unknown group [" +
                               elided(group, 100) + "]");
      }
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return invalidArgument(file + ":" + std::to_string(number) + ": '" + elided(line, 100) +
                             "' is no key=value, group or comment");
    }
    if (group != "hook") continue;
    std::string_view key = strip(line.substr(0, eq));
    std::string_view value = strip(line.substr(eq + 1));
    if (key == "timeout") {
      auto ms = vocabulary::parseHookTimeout(value);
      if (!ms.ok()) return invalidArgument(where(key) + ms.status().message());
      config.timeoutMs = *ms;
    } else if (key == "fail") {
      auto mode = vocabulary::parseHookFailMode(value);
      if (!mode.ok()) return invalidArgument(where(key) + mode.status().message());
      config.fail = *mode;
    }
  }
  return {};
}

// The file's text; nothing (and no error) when it does not exist.
Result<std::optional<std::string>> readIfThere(const std::string& path) {
  // O_NONBLOCK: a FIFO planted as the file must be refused, not wait for a writer.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>();
    return errnoStatus("cannot read configuration '" + path + "'", errno);
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + path + "'", errno);
  if (!S_ISREG(st.st_mode)) return invalidArgument("configuration '" + path + "' is not a file");
  std::string text(static_cast<size_t>(st.st_size), '\0');
  VS_RETURN_IF_ERROR(readAll(fd.get(), text.data(), text.size(), 0)
                         .withContext("cannot read configuration '" + path + "'"));
  return std::optional<std::string>(std::move(text));
}

}  // namespace

Result<HookConfig> loadHookConfig(const std::string& path) {
  HookConfig config;
  std::vector<std::string> files = {path};
  std::error_code error;
  std::vector<std::string> dropIns;
  for (const auto& entry : std::filesystem::directory_iterator(path + ".d", error)) {
    std::string name = entry.path().filename().string();
    if (name.front() != '.' && name.size() > 5 && name.ends_with(".conf") &&
        entry.is_regular_file(error)) {
      dropIns.push_back(entry.path().string());
    }
  }
  std::sort(dropIns.begin(), dropIns.end());
  files.insert(files.end(), dropIns.begin(), dropIns.end());
  for (const std::string& file : files) {
    VS_ASSIGN_OR_RETURN(std::optional<std::string> text, readIfThere(file));
    if (text) VS_RETURN_IF_ERROR(applyText(file, *text, config));
  }
  return config;
}

}  // namespace virtscratch::hook
