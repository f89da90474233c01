// A small parser for "virt-scratch COMMAND [options] ARGS": --name VALUE, --name=VALUE, flags,
// -h/--help, and "--" to end options. Errors name the bad option; the caller exits with status 2.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "image/spec.h"

namespace virtscratch::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct OptionSpec {
  std::string_view name;  // without the leading "--"
  bool takesValue;
};

class Args {
 public:
  bool help = false;
  std::vector<std::string> positional;

  bool has(std::string_view name) const { return values_.contains(std::string(name)); }
  std::optional<std::string> get(std::string_view name) const;
  void set(std::string name, std::string value) { values_[std::move(name)] = std::move(value); }

 private:
  std::map<std::string, std::string> values_;
};

Result<Args> parseArgs(std::span<char* const> argv, std::span<const OptionSpec> options);

// What every command does first with parseArgs' result: on a usage error prints it (see
// usageError), on --help prints `usage` to stdout; then returns the exit status the command ends
// with. Returns nothing when the command should go on.
std::optional<int> endEarly(std::string_view command, const Result<Args>& args, const char* usage);

// The image format an option such as --format names (raw or qcow2); nullopt when not given.
// A bad name is kInvalidArgument naming it and the option.
Result<std::optional<image::ImageFormat>> formatOption(const Args& args, std::string_view name);

// Prints "virt-scratch COMMAND: MESSAGE" and a hint to --help on stderr; returns kExitUsage.
int usageError(std::string_view command, std::string_view message);
// Prints "virt-scratch COMMAND: MESSAGE" on stderr; returns kExitFailure.
int failure(std::string_view command, const Status& status);

}  // namespace virtscratch::cli
