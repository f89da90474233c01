// A management tool's use of the client library, as docs/dbus-api.md shows it: check the
// interface version, make a scratch disk for a domain, print where it is and what the pool holds.
// Built in the tree (the daemon tests run it) and, by the install test, against the installed
// header with `pkg-config virt-scratch-client`.
//
//   virt-scratch-client-example DOMAIN-UUID [TARGET]
#include <cstdio>
#include <string>

#include "client/scratch_client.h"

namespace client = virtscratch::client;

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s DOMAIN-UUID [TARGET]\n", argv[0]);
    return 2;
  }
  auto scratch = client::ScratchClient::connect();
  if (!scratch.ok()) {
    std::fprintf(stderr, "error: %s\n", scratch.status().message().c_str());
    return 1;
  }
  if (auto version = (*scratch)->checkInterfaceVersion(); !version.ok()) {
    std::fprintf(stderr, "error: %s\n", version.status().message().c_str());
    return 1;
  }
  virtscratch::vocabulary::AllocateSpec spec;
  spec.image.size = uint64_t{1} << 30;  // 1 GiB, qcow2 with ext4 (the defaults)
  spec.sizeGiven = true;
  if (argc == 3) spec.target = argv[2];
  spec.lifetime = virtscratch::vocabulary::Lifetime::kManual;
  auto made = (*scratch)->allocate(argv[1], spec);
  if (!made.ok()) {
    // The daemon's error as its code and message, e.g. InvalidArgument naming the bad value.
    std::fprintf(stderr, "error (%s): %s\n",
                 std::string(virtscratch::errorCodeName(made.status().code())).c_str(),
                 made.status().message().c_str());
    return 1;
  }
  std::printf("image %s\nfile %s\n", made->object.c_str(), made->path.c_str());
  auto images = (*scratch)->listImages();
  if (images.ok()) std::printf("the pool holds %zu image(s)\n", images->size());
  return 0;
}
