#include "daemon/pool_image.h"

#include <fcntl.h>

#include <cerrno>

#include "image/open_image.h"

namespace virtscratch::daemon {
namespace {

Result<std::unique_ptr<image::DiskView>> openTemplate(const PoolImageSource& source,
                                                      const image::BackingRef& ref) {
  if (source.templateName.empty()) {
    return invalidArgument("'" + ref.image + "' names backing file '" + ref.name +
                           "', but the daemon made it without one; it is not followed");
  }
  if (source.templateFile.empty() || !source.templatesDir) {
    return failed("'" + ref.image + "' is an overlay on template " + source.templateName +
                  ", which the template cache no longer has");
  }
  if (ref.name != source.templatePath) {
    return invalidArgument("'" + ref.image + "' names backing file '" + ref.name +
                           "', not its template '" + source.templatePath + "'; it is not followed");
  }
  VS_ASSIGN_OR_RETURN(image::ImageFormat format, image::backingFormatOf(ref));
  if (format != source.templateFormat) {
    return invalidArgument("'" + ref.image + "' names backing format '" + ref.format +
                           "', but its template '" + source.templatePath + "' is " +
                           std::string(image::toString(source.templateFormat)));
  }
  // O_NONBLOCK: a FIFO in its place must not hang the worker.
  UniqueFd fd(openat(source.templatesDir->get(), source.templateFile.c_str(),
                     O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return errnoStatus("open template '" + source.templatePath + "'", errno);
  image::OpenOptions options;
  options.format = source.templateFormat;  // and templates have no backing file of their own
  return image::openImage(std::move(fd), source.templatePath, options);
}

}  // namespace

Result<PoolImageSource> poolImageSource(const StoredRecord& stored, TemplateCache& templates) {
  PoolImageSource source;
  source.format = stored.record.spec.format;
  source.virtualSize = stored.record.spec.size;
  source.templateName = stored.templateName;
  if (source.templateName.empty()) return source;
  const TemplateCache::Entry* entry = templates.byName(source.templateName);
  if (entry == nullptr || templates.dirFd() < 0) return source;
  source.templateFile = templates.fileName(*entry);
  source.templatePath = templates.filePath(*entry);
  source.templateFormat = entry->format;
  UniqueFd dir(fcntl(templates.dirFd(), F_DUPFD_CLOEXEC, 0));
  if (!dir) return errnoStatus("duplicate the templates directory descriptor", errno);
  source.templatesDir = std::make_shared<UniqueFd>(std::move(dir));
  return source;
}

Result<std::unique_ptr<image::DiskView>> openPoolImage(UniqueFd fd, const std::string& path,
                                                       const PoolImageSource& source) {
  image::OpenOptions options;
  options.format = source.format;
  options.backing = image::BackingPolicy::kOpener;
  options.opener = [&source](const image::BackingRef& ref) { return openTemplate(source, ref); };
  options.passphrase = source.passphrase;
  VS_ASSIGN_OR_RETURN(std::unique_ptr<image::DiskView> view,
                      image::openImage(std::move(fd), path, options));
  if (view->virtualSize() != source.virtualSize) {
    return failed("'" + path + "' has a virtual size of " + std::to_string(view->virtualSize()) +
                  " bytes, but its record says " + std::to_string(source.virtualSize) +
                  "; it is not read");
  }
  return view;
}

}  // namespace virtscratch::daemon
