#include "vocabulary/disk_xml.h"

#include "vocabulary/xml_escape.h"

namespace virtscratch::vocabulary {

std::string diskXml(std::string_view path, image::ImageFormat format, std::string_view target,
                    Attach attach, const DiskOptions& options) {
  std::string policy = attach == Attach::kBoot ? " startupPolicy='optional'" : "";
  std::string source = "<source file='" + escapeXml(path) + "'" + policy;
  if (options.secretUuid.empty()) {
    source += "/>";
  } else {
    source += "><encryption format='luks'><secret type='passphrase' uuid='" +
              escapeXml(options.secretUuid) + "'/></encryption></source>";
  }
  return "<disk type='file' device='disk'><driver name='qemu' type='" +
         escapeXml(image::toString(format)) + "'" +
         (options.discard ? " discard='unmap' detect_zeroes='unmap'" : "") + "/>" + source +
         "<target dev='" + escapeXml(target) + "' bus='virtio'/><serial>" +
         escapeXml(diskSerial(target)) + "</serial></disk>";
}

}  // namespace virtscratch::vocabulary
