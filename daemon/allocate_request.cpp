#include "daemon/allocate_request.h"

#include <algorithm>
#include <limits>

#include "image/filesystem_uuid.h"
#include "image/size.h"
#include "vocabulary/discard.h"
#include "vocabulary/domain_uuid.h"
#include "vocabulary/image_id.h"
#include "vocabulary/target.h"

namespace virtscratch::daemon {
namespace {

constexpr size_t kMaxDomainLength = 1024;

bool validUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t extra = 0;
    unsigned char low = 0x80, high = 0xbf;  // the range of the byte after c
    if (c < 0x80) {
      extra = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      if (c == 0xe0) low = 0xa0;   // overlong
      if (c == 0xed) high = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      if (c == 0xf0) low = 0x90;   // overlong
      if (c == 0xf4) high = 0x8f;  // past U+10FFFF
    } else {
      return false;
    }
    if (extra > s.size() - i - 1) return false;
    for (size_t k = 1; k <= extra; ++k) {
      auto next = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (next < low || next > high) : (next < 0x80 || next > 0xbf)) return false;
    }
    i += extra + 1;
  }
  return true;
}

Status checkSize(const vocabulary::AllocateSpec& request, image::ImageSpec& spec) {
  bool sizeGiven = request.sizeGiven || request.image.size != 0;
  if (request.sizePerVcpu == 0) {
    if (request.vcpus != 0 && !sizeGiven) {
      return invalidArgument("vcpus " + std::to_string(request.vcpus) +
                             " was given without size-per-vcpu to multiply; give size-per-vcpu, "
                             "or size alone");
    }
    return {};
  }
  if (sizeGiven) {
    return invalidArgument("give either size or size-per-vcpu, not both (size " +
                           std::to_string(request.image.size) + ", size-per-vcpu " +
                           std::to_string(request.sizePerVcpu) + ")");
  }
  if (request.vcpus == 0) {
    return invalidArgument("size-per-vcpu " + std::to_string(request.sizePerVcpu) +
                           " needs vcpus, the number of vCPUs to multiply it by");
  }
  if (request.sizePerVcpu > std::numeric_limits<uint64_t>::max() / request.vcpus) {
    return invalidArgument("size-per-vcpu " + std::to_string(request.sizePerVcpu) + " times " +
                           std::to_string(request.vcpus) + " vCPUs does not fit in 64 bits");
  }
  spec.size = request.sizePerVcpu * request.vcpus;
  return {};
}

}  // namespace

Result<DomainId> resolveDomain(std::string_view domain, DomainResolver& resolver) {
  if (domain.empty()) return invalidArgument("domain is empty; give a domain UUID or name");
  if (domain.size() > kMaxDomainLength) {
    return invalidArgument("domain name of " + std::to_string(domain.size()) +
                           " bytes is too long");
  }
  if (!validUtf8(domain)) return invalidArgument("domain name is not valid UTF-8");
  for (char c : domain) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return invalidArgument("domain name has a control character");
    }
  }
  if (domain.find('/') != std::string_view::npos) {
    return invalidArgument("domain '" + std::string(domain) +
                           "' is neither a UUID nor a domain name (names cannot hold '/')");
  }
  VS_ASSIGN_OR_RETURN(DomainId id, resolver.resolve(domain));
  if (!vocabulary::isUuid(id.uuid)) {
    return failed("domain '" + std::string(domain) + "' resolved to '" + id.uuid +
                  "', which is not a UUID");
  }
  id.uuid = vocabulary::normaliseUuid(id.uuid);
  return id;
}

image::ImageSpec emptyImageOf(const image::ImageSpec& spec) {
  image::ImageSpec empty = spec;
  empty.filesystem = image::Filesystem::kNone;
  empty.partition = image::PartitionTable::kNone;
  empty.label.clear();
  empty.uuid.clear();
  empty.contentDir.clear();
  return empty;
}

uint64_t expectedAllocation(const image::ImageSpec& spec) {
  using image::kMiB;
  uint64_t size = spec.size;
  // What mkfs writes (superblocks, group descriptors, bitmaps, journal header), generously: a
  // sparse 1 TiB ext4 image takes about 20 MiB.
  uint64_t metadata = std::min(size, 64 * kMiB + size / 4096);
  // qcow2 mapping tables for every cluster: 8 bytes per 64 KiB.
  uint64_t tables = spec.format == image::ImageFormat::kQcow2 ? size / 8192 + kMiB : 0;
  // Raw LUKS holds the journal or log as written zeros (ext's is 1 GiB from 128 GiB on, xfs's at
  // most 2 GiB), twice while it is built: the plaintext beside the encrypted image.
  if (spec.format == image::ImageFormat::kRaw && spec.encryption == image::Encryption::kLuks) {
    metadata += 2 * std::min(size, 2 * image::kGiB);
  }
  switch (spec.preallocation) {
    case image::Preallocation::kOff:
      return metadata;
    case image::Preallocation::kMetadata:
      return metadata + tables;
    case image::Preallocation::kFalloc:
    case image::Preallocation::kFull:
      return size + tables;
  }
  return size;
}

Result<AllocationPlan> planAllocation(const AllocateRequest& request, const Config& config,
                                      DomainResolver& resolver, const ContentRoots& roots) {
  AllocationPlan plan;
  const vocabulary::AllocateSpec& asked = request.spec;
  VS_RETURN_IF_ERROR(vocabulary::validateTarget(asked.target));
  plan.target = asked.target;
  plan.lifetime = asked.lifetime;
  plan.spec = asked.image;
  if (!asked.encryptionGiven) plan.spec.encryption = config.poolEncryption;
  VS_RETURN_IF_ERROR(checkSize(asked, plan.spec));
  if (plan.spec.size > config.maxImageSize) {
    return Status(ErrorCode::kQuotaExceeded,
                  "a new image of " + image::formatSize(plan.spec.size) + " (" +
                      std::to_string(plan.spec.size) + " bytes) is larger than " +
                      image::formatSize(config.maxImageSize) + ", the limit [limits] max-size");
  }
  VS_RETURN_IF_ERROR(image::validateSpec(plan.spec, config.maxImageSize));
  VS_ASSIGN_OR_RETURN(plan.domain, resolveDomain(request.domain, resolver));
  plan.incoming = asked.incoming;
  if (asked.discard.value_or(false) && plan.spec.preallocation != image::Preallocation::kOff) {
    return invalidArgument(
        "spec key 'discard' is true but preallocation is '" +
        std::string(image::toString(plan.spec.preallocation)) +
        "': discarding would give back the space preallocation reserves; leave one of them out");
  }
  plan.discard = vocabulary::discardOf(asked.discard, config.poolDiscard, plan.spec.preallocation);
  if (plan.incoming && !plan.spec.contentDir.empty()) {
    return invalidArgument("content '" + plan.spec.contentDir +
                           "' cannot be copied into an incoming image: the migration brings its "
                           "data; leave content out with incoming");
  }
  if (!plan.spec.contentDir.empty()) {
    VS_ASSIGN_OR_RETURN(plan.content, roots.open(plan.spec.contentDir));
    plan.spec.contentDir.clear();
  }
  plan.id = vocabulary::imageIdOf(plan.domain.uuid, plan.target);
  plan.filesystemUuid =
      plan.spec.uuid.empty() ? image::randomFilesystemUuid(plan.spec.filesystem) : plan.spec.uuid;
  plan.expectedAllocation = expectedAllocation(plan.spec);
  if (plan.incoming) {
    plan.filesystemUuid = plan.spec.uuid;
    plan.expectedAllocation = expectedAllocation(emptyImageOf(plan.spec));
  }
  return plan;
}

}  // namespace virtscratch::daemon
