// How the client commands print an image the daemon described: "Key: value" lines (show) or one
// JSON object (allocate --json, list --json, show --json).
#pragma once

#include <string>

#include "client/scratch_client.h"

namespace virtscratch::cli {

std::string imageText(const client::ImageInfo& image);
std::string imageJson(const client::ImageInfo& image);

}  // namespace virtscratch::cli
