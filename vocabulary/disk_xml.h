// The <disk> element of a scratch disk, as `virt-scratch enable` writes it into a definition
// (attach='boot') and the daemon's watcher hot-plugs it into a running domain (attach='hotplug'):
//
//   <disk type='file' device='disk'>
//     <driver name='qemu' type='qcow2' discard='unmap' detect_zeroes='unmap'/>
//     <source file='/pool/<uuid>/vdb.qcow2'/><target dev='vdb' bus='virtio'/>
//     <serial>scratch-vdb</serial></disk>
//
// (one line). The serial (diskSerial) marks the disk as scratch: enable, disable and the watcher
// find it by it. Every value is escaped, so a path with quotes or '&' stays one attribute.
// Pure, any thread.
#pragma once

#include <string>
#include <string_view>

#include "image/spec.h"
#include "vocabulary/scratch_metadata.h"

namespace virtscratch::vocabulary {

// For Attach::kBoot the source gets startupPolicy='optional': the hook makes the file at
// `prepare begin`, and when it fails open ([hook] fail=open) the domain still starts without the
// disk. A hot-plugged disk's file exists before it is attached, so it gets no policy.
struct DiskOptions {
  // discard='unmap' detect_zeroes='unmap' on the driver (discard.h); without, neither: libvirt's
  // defaults, which keep every block the guest ever wrote.
  bool discard = false;
  // Not empty: the source carries <encryption format='luks'> naming this secret (disk_secret.h).
  std::string secretUuid;
};
std::string diskXml(std::string_view path, image::ImageFormat format, std::string_view target,
                    Attach attach, const DiskOptions& options = {});

}  // namespace virtscratch::vocabulary
