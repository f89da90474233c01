// The AttachmentProbe of a daemon connected to libvirt: an image is in use when its domain is
// active and the domain's live definition has a disk whose source is the image's file. Release
// asks it before deleting images. Its libvirt calls run on its own LibvirtWorker, as the
// watcher's do (see libvirt_worker.h): libvirtd holds a domain locked while its hooks run, and a
// lookup on the loop thread would stall every caller until the hook gave up. While libvirt is
// not connected it answers with an error: nothing can be told. Loop thread; answers there.
#pragma once

#include <memory>

#include "daemon/libvirt/libvirt_connection.h"
#include "daemon/libvirt/libvirt_worker.h"
#include "daemon/loop_invoker.h"
#include "daemon/service.h"

namespace virtscratch::daemon::libvirt {

class LibvirtAttachmentProbe final : public AttachmentProbe {
 public:
  // The connection and the loop must outlive the probe; answers not given by its end are dropped.
  LibvirtAttachmentProbe(const LibvirtConnection& connection, LoopInvoker& loop)
      : connection_(connection), loop_(loop) {}

  void inUse(const std::string& domainUuid, std::vector<std::string> paths,
             std::function<void(Result<DomainUse>)> done) override;

 private:
  const LibvirtConnection& connection_;
  LoopInvoker& loop_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  LibvirtWorker worker_;  // last: its thread is joined before anything else goes
};

// Which of `paths` libvirt's domain XML has as a disk's source, read with the parser the hook and
// enable use (domain/disk_sources.h). kInvalidArgument for XML that parser refuses.
Result<std::vector<std::string>> diskSourcesAmong(const std::string& domainXml,
                                                  const std::vector<std::string>& paths);

}  // namespace virtscratch::daemon::libvirt
