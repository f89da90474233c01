#include "vocabulary/disk_xml.h"

#include "vocabulary/xml_escape.h"

namespace virtscratch::vocabulary {

std::string diskXml(std::string_view path, image::ImageFormat format, std::string_view target,
                    Attach attach, std::string_view secretUuid) {
  std::string policy = attach == Attach::kBoot ? " startupPolicy='optional'" : "";
  std::string source = "<source file='" + escapeXml(path) + "'" + policy;
  if (secretUuid.empty()) {
    source += "/>";
  } else {
    source += "><encryption format='luks'><secret type='passphrase' uuid='" +
              escapeXml(secretUuid) + "'/></encryption></source>";
  }
  return "<disk type='file' device='disk'><driver name='qemu' type='" +
         escapeXml(image::toString(format)) + "'/>" + source + "<target dev='" + escapeXml(target) +
         "' bus='virtio'/><serial>" + escapeXml(diskSerial(target)) + "</serial></disk>";
}

}  // namespace virtscratch::vocabulary
