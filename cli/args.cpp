#include "cli/args.h"

#include <cstdio>

namespace virtscratch::cli {

std::optional<std::string> Args::get(std::string_view name) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

Result<Args> parseArgs(std::span<char* const> argv, std::span<const OptionSpec> options) {
  Args args;
  bool optionsEnded = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    std::string_view arg = argv[i];
    if (optionsEnded || arg == "-" || !arg.starts_with("-")) {
      args.positional.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      optionsEnded = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      args.help = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      return invalidArgument("unknown option '" + std::string(arg) + "'");
    }
    std::string_view body = arg.substr(2);
    std::optional<std::string> inlineValue;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      inlineValue = std::string(body.substr(eq + 1));
      body = body.substr(0, eq);
    }
    const OptionSpec* spec = nullptr;
    for (const auto& o : options) {
      if (o.name == body) spec = &o;
    }
    if (spec == nullptr) return invalidArgument("unknown option '--" + std::string(body) + "'");
    std::string name(body);
    if (args.has(name)) return invalidArgument("option '--" + name + "' is given twice");
    if (!spec->takesValue) {
      if (inlineValue) return invalidArgument("option '--" + name + "' takes no value");
      args.set(name, "");
    } else if (inlineValue) {
      args.set(name, *inlineValue);
    } else if (i + 1 < argv.size()) {
      args.set(name, argv[++i]);
    } else {
      return invalidArgument("option '--" + name + "' needs a value");
    }
  }
  return args;
}

std::optional<int> endEarly(std::string_view command, const Result<Args>& args, const char* usage) {
  if (!args.ok()) return usageError(command, args.status().message());
  if (args->help) {
    std::fputs(usage, stdout);
    return kExitOk;
  }
  return std::nullopt;
}

int usageError(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "virt-scratch %.*s: %.*s\nTry 'virt-scratch %.*s --help'.\n",
               static_cast<int>(command.size()), command.data(), static_cast<int>(message.size()),
               message.data(), static_cast<int>(command.size()), command.data());
  return kExitUsage;
}

int failure(std::string_view command, const Status& status) {
  std::fprintf(stderr, "virt-scratch %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               status.message().c_str());
  return kExitFailure;
}

Result<std::optional<image::ImageFormat>> formatOption(const Args& args, std::string_view name) {
  auto value = args.get(name);
  if (!value) return std::optional<image::ImageFormat>();
  auto format = image::parseImageFormat(*value);
  if (!format.ok()) {
    return invalidArgument("--" + std::string(name) + ": " + format.status().message());
  }
  return std::optional<image::ImageFormat>(*format);
}

}  // namespace virtscratch::cli
