#include "daemon/dbus/request_decoder.h"

#include <cstdint>
#include <string_view>
#include <vector>

#include "vocabulary/allocate_spec.h"

namespace virtscratch::daemon::bus {
namespace {

template <typename T>
struct BusType;
template <>
struct BusType<uint64_t> {
  static constexpr std::string_view kSignature = "t";
  static constexpr std::string_view kName = "uint64";
};
template <>
struct BusType<uint32_t> {
  static constexpr std::string_view kSignature = "u";
  static constexpr std::string_view kName = "uint32";
};
template <>
struct BusType<bool> {
  static constexpr std::string_view kSignature = "b";
  static constexpr std::string_view kName = "boolean";
};
template <>
struct BusType<std::string> {
  static constexpr std::string_view kSignature = "s";
  static constexpr std::string_view kName = "string";
};

template <typename T>
Result<T> take(std::string_view what, const std::string& key, const sdbus::Variant& value) {
  std::string type = value.isEmpty() ? "" : value.peekValueType();
  if (type != BusType<T>::kSignature) {
    return invalidArgument(std::string(what) + " key '" + key + "' must be of type '" +
                           std::string(BusType<T>::kSignature) + "' (" +
                           std::string(BusType<T>::kName) + "), not '" + type + "'");
  }
  return value.get<T>();
}

// The a{sv} without D-Bus: values of types t, u, s and b; any other type is named in the error.
Result<vocabulary::SpecMap> specMapOf(const VariantMap& spec) {
  vocabulary::SpecMap map;
  for (const auto& [key, value] : spec) {
    std::string type = value.isEmpty() ? "" : value.peekValueType();
    if (type == "t") {
      map.emplace(key, value.get<uint64_t>());
    } else if (type == "u") {
      map.emplace(key, value.get<uint32_t>());
    } else if (type == "s") {
      map.emplace(key, value.get<std::string>());
    } else if (type == "b") {
      map.emplace(key, value.get<bool>());
    } else {
      return vocabulary::wrongType(key, type);
    }
  }
  return map;
}

}  // namespace

Result<AllocateRequest> decodeAllocateRequest(std::string domain, const VariantMap& spec) {
  VS_ASSIGN_OR_RETURN(vocabulary::SpecMap map, specMapOf(spec));
  VS_ASSIGN_OR_RETURN(vocabulary::AllocateSpec parsed, vocabulary::parseSpecMap(map));
  return AllocateRequest{std::move(domain), std::move(parsed)};
}

Result<ExportParams> decodeExportOptions(UniqueFd output, const VariantMap& options) {
  ExportParams params;
  params.output = std::move(output);
  for (const auto& [key, value] : options) {
    if (key == "level") {
      VS_ASSIGN_OR_RETURN(uint32_t level, take<uint32_t>("options", key, value));
      if (level < 1 || level > 9) {
        return invalidArgument("options key 'level' is " + std::to_string(level) +
                               "; use 1 (fastest) to 9 (smallest)");
      }
      params.level = static_cast<int>(level);
    } else if (key == "threads") {
      VS_ASSIGN_OR_RETURN(params.threads, take<uint32_t>("options", key, value));
    } else {
      return invalidArgument("unknown options key '" + key + "'; known keys: level, threads");
    }
  }
  return params;
}

namespace {

// ReleaseDomain's lifetime: one name (s) or several (as).
Result<std::vector<vocabulary::Lifetime>> takeLifetimes(const std::string& key,
                                                        const sdbus::Variant& value) {
  std::vector<std::string> names;
  std::string type = value.isEmpty() ? "" : value.peekValueType();
  if (type == "s") {
    names.push_back(value.get<std::string>());
  } else if (type == "as") {
    names = value.get<std::vector<std::string>>();
  } else {
    return invalidArgument("options key '" + key +
                           "' must be of type 's' (string) or 'as' (array of strings), not '" +
                           type + "'");
  }
  std::vector<vocabulary::Lifetime> lifetimes;
  for (const std::string& name : names) {
    auto lifetime = vocabulary::parseLifetime(name);
    if (!lifetime.ok()) return lifetime.status().withContext("options key '" + key + "'");
    lifetimes.push_back(*lifetime);
  }
  if (lifetimes.empty()) {
    return invalidArgument("options key '" + key +
                           "' names no lifetime; leave it out to release every image");
  }
  return lifetimes;
}

Result<ReleaseOptions> decodeRelease(const VariantMap& options, bool domain) {
  ReleaseOptions release;
  for (const auto& [key, value] : options) {
    if (key == "force") {
      VS_ASSIGN_OR_RETURN(release.force, take<bool>("options", key, value));
    } else if (key == "lifetime" && domain) {
      VS_ASSIGN_OR_RETURN(release.lifetimes, takeLifetimes(key, value));
    } else if (key == "origin") {
      VS_ASSIGN_OR_RETURN(std::string origin, take<std::string>("options", key, value));
      auto parsed = vocabulary::parseOrigin(origin);
      if (!parsed.ok()) return parsed.status().withContext("options key 'origin'");
      release.origin = std::move(parsed).value();
    } else {
      return invalidArgument(
          "unknown options key '" + key +
          (domain ? "'; known keys: force, lifetime, origin" : "'; known keys: force, origin"));
    }
  }
  return release;
}

}  // namespace

Result<ReleaseOptions> decodeReleaseOptions(const VariantMap& options) {
  return decodeRelease(options, false);
}

Result<ReleaseOptions> decodeReleaseDomainOptions(const VariantMap& options) {
  return decodeRelease(options, true);
}

}  // namespace virtscratch::daemon::bus
