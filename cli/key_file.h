// The passphrase of an encrypted image, from the file --key-file names: read whole, every byte,
// as QEMU's `secret,file=` reads it (1 byte to 64 KiB, a regular file).
#pragma once

#include <string>

#include "base/status.h"

namespace virtscratch::cli {

Result<std::string> readKeyFile(const std::string& path);

}  // namespace virtscratch::cli
