// Service::Impl: handing an encrypted image's key to a root caller, as a sealed memory file.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "base/file_io.h"
#include "daemon/secret_store.h"
#include "daemon/service_impl.h"
#include "vocabulary/disk_secret.h"

namespace virtscratch::daemon {

Result<UniqueFd> Service::Impl::openKey(const Caller& caller, std::string_view id) const {
  const ImageRecord* record = findImage(id);
  if (record == nullptr) return Status(ErrorCode::kNotFound, "no image '" + std::string(id) + "'");
  if (record->spec.encryption != image::Encryption::kLuks) {
    return invalidArgument("image " + std::string(id) + " is not encrypted: it has no key");
  }
  if (caller.uid != 0) {
    return Status(ErrorCode::kAccessDenied, "only root may have the key of image " +
                                                std::string(id) + "; uid " +
                                                std::to_string(caller.uid) + " asked");
  }
  VS_ASSIGN_OR_RETURN(std::string key, secrets_->reveal(vocabulary::secretUuidOf(record->domainUuid,
                                                                                 record->target)));
  UniqueFd fd(memfd_create("virt-scratch-key", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  Status written = fd ? writeAll(fd.get(), key.data(), key.size(), 0)
                      : errnoStatus("making a memory file for the key", errno);
  wipeSecret(key);
  VS_RETURN_IF_ERROR(written);
  // Sealed: whoever holds the descriptor reads the key and cannot change it.
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    return errnoStatus("sealing the key's memory file", errno);
  }
  return fd;
}

}  // namespace virtscratch::daemon
