#include "vocabulary/allocate_spec.h"

#include <utility>

namespace virtscratch::vocabulary {
namespace {

template <typename T>
constexpr std::string_view kSignature = "";
template <>
constexpr std::string_view kSignature<uint64_t> = "t";
template <>
constexpr std::string_view kSignature<uint32_t> = "u";
template <>
constexpr std::string_view kSignature<std::string> = "s";
template <>
constexpr std::string_view kSignature<bool> = "b";

template <typename T>
Result<T> take(const std::string& key, const SpecValue& value) {
  if (const T* v = std::get_if<T>(&value)) return *v;
  return wrongType(key, signatureOf(value));
}

// Parses a named value with its parser, putting the key in front of the parser's message.
template <typename T>
Status parseInto(const std::string& key, const SpecValue& value, T& out,
                 Result<T> (*parse)(std::string_view)) {
  VS_ASSIGN_OR_RETURN(std::string text, take<std::string>(key, value));
  Result<T> parsed = parse(text);
  if (!parsed.ok()) return parsed.status().withContext("spec key '" + key + "'");
  out = std::move(parsed).value();
  return {};
}

Status readKey(const std::string& key, const SpecValue& value, AllocateSpec& out) {
  image::ImageSpec& spec = out.image;
  if (key == "size") {
    VS_ASSIGN_OR_RETURN(spec.size, take<uint64_t>(key, value));
    out.sizeGiven = true;
  } else if (key == "size-per-vcpu") {
    VS_ASSIGN_OR_RETURN(out.sizePerVcpu, take<uint64_t>(key, value));
  } else if (key == "vcpus") {
    VS_ASSIGN_OR_RETURN(out.vcpus, take<uint32_t>(key, value));
  } else if (key == "format") {
    return parseInto(key, value, spec.format, image::parseImageFormat);
  } else if (key == "filesystem") {
    return parseInto(key, value, spec.filesystem, image::parseFilesystem);
  } else if (key == "partition") {
    return parseInto(key, value, spec.partition, image::parsePartitionTable);
  } else if (key == "preallocation") {
    return parseInto(key, value, spec.preallocation, image::parsePreallocation);
  } else if (key == "encryption") {
    out.encryptionGiven = true;
    return parseInto(key, value, spec.encryption, image::parseEncryption);
  } else if (key == "lifetime") {
    return parseInto(key, value, out.lifetime, parseLifetime);
  } else if (key == "label") {
    VS_ASSIGN_OR_RETURN(spec.label, take<std::string>(key, value));
  } else if (key == "uuid") {
    VS_ASSIGN_OR_RETURN(spec.uuid, take<std::string>(key, value));
  } else if (key == "content") {
    VS_ASSIGN_OR_RETURN(spec.contentDir, take<std::string>(key, value));
    if (spec.contentDir.empty()) {
      return invalidArgument("spec key 'content' is empty: leave it out for an empty filesystem");
    }
  } else if (key == "target") {
    VS_ASSIGN_OR_RETURN(out.target, take<std::string>(key, value));
  } else if (key == "incoming") {
    VS_ASSIGN_OR_RETURN(out.incoming, take<bool>(key, value));
  } else if (key == "discard") {
    VS_ASSIGN_OR_RETURN(out.discard, take<bool>(key, value));
  } else if (key == "origin") {
    return parseInto(key, value, out.origin, parseOrigin);
  } else {
    return invalidArgument("unknown spec key '" + key +
                           "'; known keys: " + std::string(kAllocateKeys));
  }
  return {};
}

}  // namespace

std::string_view signatureOf(const SpecValue& value) {
  return std::visit([](const auto& v) { return kSignature<std::decay_t<decltype(v)>>; }, value);
}

std::string_view typeNameOf(std::string_view signature) {
  if (signature == "t") return "uint64";
  if (signature == "u") return "uint32";
  if (signature == "s") return "string";
  if (signature == "b") return "boolean";
  return "another type";
}

std::string_view keySignature(std::string_view key) {
  if (key == "size" || key == "size-per-vcpu") return "t";
  if (key == "vcpus") return "u";
  if (key == "incoming" || key == "discard") return "b";
  for (std::string_view k : {"format", "filesystem", "label", "uuid", "partition", "preallocation",
                             "content", "encryption", "target", "lifetime", "origin"}) {
    if (k == key) return "s";
  }
  return "";
}

Status wrongType(const std::string& key, std::string_view signature) {
  std::string_view want = keySignature(key);
  if (want.empty()) {
    return invalidArgument("unknown spec key '" + key +
                           "'; known keys: " + std::string(kAllocateKeys));
  }
  return invalidArgument("spec key '" + key + "' must be of type '" + std::string(want) + "' (" +
                         std::string(typeNameOf(want)) + "), not '" + std::string(signature) + "'");
}

SpecMap toSpecMap(const AllocateSpec& spec) {
  const image::ImageSpec& image = spec.image;
  SpecMap map;
  if (spec.sizePerVcpu != 0) {
    map["size-per-vcpu"] = spec.sizePerVcpu;
    map["vcpus"] = spec.vcpus;
  }
  if (spec.sizePerVcpu == 0 || spec.sizeGiven) map["size"] = image.size;
  map["format"] = std::string(image::toString(image.format));
  map["filesystem"] = std::string(image::toString(image.filesystem));
  if (!image.label.empty()) map["label"] = image.label;
  if (!image.uuid.empty()) map["uuid"] = image.uuid;
  if (image.partition != image::PartitionTable::kNone) {
    map["partition"] = std::string(image::toString(image.partition));
  }
  if (image.preallocation != image::Preallocation::kOff) {
    map["preallocation"] = std::string(image::toString(image.preallocation));
  }
  if (!image.contentDir.empty()) map["content"] = image.contentDir;
  if (spec.encryptionGiven) map["encryption"] = std::string(image::toString(image.encryption));
  map["target"] = spec.target;
  map["lifetime"] = std::string(toString(spec.lifetime));
  if (spec.incoming) map["incoming"] = true;
  if (spec.discard) map["discard"] = *spec.discard;
  if (!spec.origin.empty()) map["origin"] = spec.origin;
  return map;
}

Result<std::string> parseOrigin(std::string_view text) {
  if (text == "hook" || text == "cli") return std::string(text);
  return invalidArgument("unknown origin '" + std::string(text) +
                         "' (choose one of: hook, cli; leave it out otherwise)");
}

Result<AllocateSpec> parseSpecMap(const SpecMap& map) {
  AllocateSpec spec;
  for (const auto& [key, value] : map) VS_RETURN_IF_ERROR(readKey(key, value, spec));
  return spec;
}

}  // namespace virtscratch::vocabulary
