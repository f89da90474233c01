#include "image/open_image.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "image/luks_raw_view.h"
#include "image/qcow2_reader.h"

namespace virtscratch::image {
namespace {

Result<std::unique_ptr<DiskView>> openAs(ImageFormat format, UniqueFd fd, const std::string& path,
                                         const BackingOpener& opener,
                                         const std::string& passphrase) {
  if (format == ImageFormat::kRaw) {
    if (!passphrase.empty()) return openRawLuksView(std::move(fd), path, passphrase);
    return openRawDiskView(std::move(fd), path);
  }
  return openQcow2(std::move(fd), path, opener, passphrase);
}

// A relative name is read relative to the directory of the image that names it, as QEMU does.
std::string resolveBackingName(const BackingRef& ref) {
  if (ref.name.empty() || ref.name.front() == '/') return ref.name;
  size_t slash = ref.image.rfind('/');
  if (slash == std::string::npos) return ref.name;
  return ref.image.substr(0, slash + 1) + ref.name;
}

Result<std::unique_ptr<DiskView>> followByName(const BackingRef& ref) {
  VS_ASSIGN_OR_RETURN(ImageFormat format, backingFormatOf(ref));
  OpenOptions options;
  options.format = format;
  options.backing = BackingPolicy::kFollowByName;
  return openImage(resolveBackingName(ref), options);
}

Status refusedBacking(const BackingRef& ref) {
  return invalidArgument("'" + ref.image + "' is a qcow2 image that names backing file '" +
                         ref.name + "'; backing files are not followed here");
}

Status probedBacking(const BackingRef& ref) {
  return invalidArgument("'" + ref.image + "' looks like a qcow2 image and names backing file '" +
                         ref.name + "'; give --format qcow2 to open it with its backing file, " +
                         "or --format raw to read the file as it is");
}

}  // namespace

Result<ImageFormat> backingFormatOf(const BackingRef& ref) {
  if (ref.format.empty()) {
    return invalidArgument("'" + ref.image + "' names backing file '" + ref.name +
                           "' without its format; formats are never guessed from content (set "
                           "it with qemu-img rebase -F raw|qcow2)");
  }
  if (ref.format != "raw" && ref.format != "qcow2") {
    return invalidArgument("backing file '" + ref.name + "' of '" + ref.image + "' has format '" +
                           ref.format + "'; only raw and qcow2 backing files are supported");
  }
  return parseImageFormat(ref.format);
}

Result<std::unique_ptr<DiskView>> openImage(UniqueFd fd, const std::string& path,
                                            const OpenOptions& options) {
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return errnoStatus("stat '" + path + "'", errno);
  if (!S_ISREG(st.st_mode)) {
    return invalidArgument("'" + path + "' is not a regular file; give an image file");
  }
  if (!options.format && !options.probe) {
    return invalidArgument("no format given for '" + path + "'; formats are never guessed here");
  }
  if (!options.format) {
    VS_ASSIGN_OR_RETURN(bool qcow2, isQcow2(fd.get()));
    if (!qcow2) return openAs(ImageFormat::kRaw, std::move(fd), path, {}, options.passphrase);
    return openQcow2(
        std::move(fd), path,
        [](const BackingRef& ref) -> Result<std::unique_ptr<DiskView>> {
          return probedBacking(ref);
        },
        options.passphrase);
  }
  BackingOpener opener;
  switch (options.backing) {
    case BackingPolicy::kRefuse:
      opener = [](const BackingRef& ref) -> Result<std::unique_ptr<DiskView>> {
        return refusedBacking(ref);
      };
      break;
    case BackingPolicy::kFollowByName:
      opener = followByName;
      break;
    case BackingPolicy::kOpener:
      if (!options.opener)
        return invalidArgument("no backing file opener given for '" + path + "'");
      opener = options.opener;
      break;
  }
  return openAs(*options.format, std::move(fd), path, opener, options.passphrase);
}

Result<std::unique_ptr<DiskView>> openImage(const std::string& path, const OpenOptions& options) {
  // O_NONBLOCK: a FIFO without a writer would block open() for good; regular files ignore it.
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return errnoStatus("open '" + path + "'", errno);
  return openImage(std::move(fd), path, options);
}

OpenOptions cliOpenOptions(std::optional<ImageFormat> format) {
  OpenOptions options;
  options.format = format;
  options.probe = !format.has_value();
  if (format) options.backing = BackingPolicy::kFollowByName;
  return options;
}

}  // namespace virtscratch::image
