// qemu-img as the tests use it to look at images. Both throw std::runtime_error, with qemu-img's
// message, when qemu-img fails (the test fails with it).
#pragma once

#include <string>
#include <vector>

#include "tests/support/json_value.h"
#include "tests/support/test_util.h"

namespace virtscratch::test {

// The arguments that open the encrypted `image` (an encrypted qcow2, or with format "raw" a raw
// LUKS image) with the passphrase in `keyFile` (secret object k0, then --image-opts), to put
// after a qemu-img subcommand.
std::vector<std::string> withKey(const std::string& image, const std::string& keyFile,
                                 const std::string& format = "qcow2");

// Runs qemu-img `head...`, then `keyed` (withKey's arguments), then `tail...`.
CommandResult qemuImg(std::vector<std::string> head, const std::vector<std::string>& keyed,
                      const std::vector<std::string>& tail = {});

// `qemu-img info --output=json IMAGE`.
Json qemuImgInfo(const std::string& image);

// The guest's bytes of `image` as a raw file: the image itself when it is raw, otherwise
// qemu-img's conversion written to `rawPath`.
std::string guestRaw(const std::string& image, const std::string& rawPath);

}  // namespace virtscratch::test
