#include "vocabulary/pool_layout.h"

#include <filesystem>

namespace virtscratch::vocabulary {

std::string imageFileName(std::string_view target, image::ImageFormat format) {
  return std::string(target) + "." + std::string(image::toString(format));
}

std::string imageRelativePath(std::string_view domainUuid, std::string_view target,
                              image::ImageFormat format) {
  return std::string(domainUuid) + "/" + imageFileName(target, format);
}

std::string imagePath(std::string_view poolDir, std::string_view domainUuid,
                      std::string_view target, image::ImageFormat format) {
  return std::string(poolDir) + "/" + imageRelativePath(domainUuid, target, format);
}

bool sameImagePath(std::string_view a, std::string_view b) {
  return std::filesystem::path(a).lexically_normal() == std::filesystem::path(b).lexically_normal();
}

}  // namespace virtscratch::vocabulary
