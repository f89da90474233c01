#include "daemon/dbus/request_decoder.h"

#include <cstdint>
#include <string_view>

#include "daemon/image_record.h"
#include "image/spec.h"

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

// Parses a named value with the engine's parser, putting the key in front of its message.
template <typename T>
Status parseInto(const std::string& key, const sdbus::Variant& value, T& out,
                 Result<T> (*parse)(std::string_view)) {
  VS_ASSIGN_OR_RETURN(std::string text, take<std::string>("spec", key, value));
  Result<T> parsed = parse(text);
  if (!parsed.ok()) return parsed.status().withContext("spec key '" + key + "'");
  out = std::move(parsed).value();
  return {};
}

constexpr char kAllocateKeys[] =
    "size, size-per-vcpu, vcpus, format, filesystem, label, uuid, partition, preallocation, "
    "content, target, lifetime";

Status decodeSpecKey(const std::string& key, const sdbus::Variant& value, AllocateRequest& req) {
  image::ImageSpec& spec = req.spec;
  if (key == "size") {
    VS_ASSIGN_OR_RETURN(spec.size, take<uint64_t>("spec", key, value));
    req.sizeGiven = true;
  } else if (key == "size-per-vcpu") {
    VS_ASSIGN_OR_RETURN(req.sizePerVcpu, take<uint64_t>("spec", key, value));
  } else if (key == "vcpus") {
    VS_ASSIGN_OR_RETURN(req.vcpus, take<uint32_t>("spec", key, value));
  } else if (key == "format") {
    return parseInto(key, value, spec.format, image::parseImageFormat);
  } else if (key == "filesystem") {
    return parseInto(key, value, spec.filesystem, image::parseFilesystem);
  } else if (key == "partition") {
    return parseInto(key, value, spec.partition, image::parsePartitionTable);
  } else if (key == "preallocation") {
    return parseInto(key, value, spec.preallocation, image::parsePreallocation);
  } else if (key == "lifetime") {
    return parseInto(key, value, req.lifetime, parseLifetime);
  } else if (key == "label") {
    VS_ASSIGN_OR_RETURN(spec.label, take<std::string>("spec", key, value));
  } else if (key == "uuid") {
    VS_ASSIGN_OR_RETURN(spec.uuid, take<std::string>("spec", key, value));
  } else if (key == "content") {
    VS_ASSIGN_OR_RETURN(spec.contentDir, take<std::string>("spec", key, value));
    if (spec.contentDir.empty()) {
      return invalidArgument("spec key 'content' is empty: leave it out for an empty filesystem");
    }
  } else if (key == "target") {
    VS_ASSIGN_OR_RETURN(req.target, take<std::string>("spec", key, value));
  } else {
    return invalidArgument("unknown spec key '" + key + "'; known keys: " + kAllocateKeys);
  }
  return {};
}

}  // namespace

Result<AllocateRequest> decodeAllocateRequest(std::string domain, const VariantMap& spec) {
  AllocateRequest req;
  req.domain = std::move(domain);
  for (const auto& [key, value] : spec) VS_RETURN_IF_ERROR(decodeSpecKey(key, value, req));
  return req;
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

Result<ReleaseOptions> decodeReleaseOptions(const VariantMap& options) {
  ReleaseOptions release;
  for (const auto& [key, value] : options) {
    if (key == "force") {
      VS_ASSIGN_OR_RETURN(release.force, take<bool>("options", key, value));
    } else {
      return invalidArgument("unknown options key '" + key + "'; known keys: force");
    }
  }
  return release;
}

}  // namespace virtscratch::daemon::bus
