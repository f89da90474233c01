// The Allocate spec: what a caller asks of one scratch image, and its a{sv} form on the bus
// (docs/dbus-api.md lists the keys). The client library writes it, the daemon's bus layer reads
// it, the hook and the watcher make it from a <scratch:disk>; all of them through this file, so
// a key is named, typed and parsed in one place. SpecMap holds the a{sv} without D-Bus: the bus
// layers convert sdbus::Variant of types t, u, s and b to SpecValue and back. Only the shape is
// checked here (known keys, their types, names the engine parses); the daemon validates the
// values. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "base/status.h"
#include "image/spec.h"
#include "vocabulary/lifetime.h"

namespace virtscratch::vocabulary {

// A value of the a{sv}: D-Bus types t, u, s and b, in that order of the variant.
using SpecValue = std::variant<uint64_t, uint32_t, std::string, bool>;
using SpecMap = std::map<std::string, SpecValue>;

// The D-Bus signature of a value ("t", "u", "s", "b") and the name a message gives it.
std::string_view signatureOf(const SpecValue& value);
std::string_view typeNameOf(std::string_view signature);

struct AllocateSpec {
  image::ImageSpec image;    // image.size 0 when sizePerVcpu is used
  uint64_t sizePerVcpu = 0;  // with vcpus: size = sizePerVcpu * vcpus
  uint32_t vcpus = 0;
  bool sizeGiven = false;  // "size" was in the map (together with size-per-vcpu: an error)
  // "encryption" was in the map; without it the daemon's [pool] encryption decides.
  bool encryptionGiven = false;
  std::string target = "vdb";
  Lifetime lifetime = Lifetime::kBoot;
  // The image of an incoming live migration: made empty (no partition table, filesystem or
  // content is written; the migration's storage copy brings the source's bytes) but recorded
  // with the spec as given, which describes what arrives.
  bool incoming = false;
  // Whether the disk the watcher hot-plugs gives freed blocks back (vocabulary/discard.h);
  // unset: the daemon's [pool] discard decides.
  std::optional<bool> discard;
  // Who asks, for the daemon's metrics: "hook" or "cli" (parseOrigin); empty: a caller that does
  // not say (a management tool).
  std::string origin;
};

// The origins a request may name (spec key and ReleaseDomain option "origin"): "hook" (the
// libvirt hook) or "cli" (virt-scratch). A fixed set, so that callers cannot grow the metrics
// without bound; anything else is kInvalidArgument naming the value.
Result<std::string> parseOrigin(std::string_view text);

// The keys Allocate knows, comma-separated, for messages.
inline constexpr std::string_view kAllocateKeys =
    "size, size-per-vcpu, vcpus, format, filesystem, label, uuid, partition, preallocation, "
    "content, encryption, target, lifetime, incoming, discard, origin";

// The D-Bus signature a known key takes ("t" for size, "s" for target...); empty for a key
// Allocate does not know.
std::string_view keySignature(std::string_view key);

// kInvalidArgument for a value of `signature` given for `key`, which takes another type (or is
// not known): "spec key 'size' must be of type 't' (uint64), not 'd'".
Status wrongType(const std::string& key, std::string_view signature);

// The a{sv} for `spec`: every key whose value is not the default, and always size (or
// size-per-vcpu with vcpus), format, filesystem, target and lifetime.
SpecMap toSpecMap(const AllocateSpec& spec);

// Reads an a{sv}: kInvalidArgument naming the key for an unknown key, a wrong type ("spec key
// 'size' must be of type 't' (uint64), not 's'") or a name the engine does not know.
Result<AllocateSpec> parseSpecMap(const SpecMap& map);

}  // namespace virtscratch::vocabulary
