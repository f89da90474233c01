// private-tmp PROGRAM [ARGS...]: runs PROGRAM as systemd's PrivateTmp=yes would, in a mount
// namespace of its own with an empty /tmp. The daemon's tests start virt-scratchd this way to show
// that an export lands where its caller opened the file, whatever /tmp the daemon sees.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>

extern char** environ;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: private-tmp PROGRAM [ARGS...]\n");
    return 2;
  }
  // Opened before the new /tmp hides it: the build tree itself may lie under /tmp.
  int program = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (program < 0) {
    std::perror(argv[1]);
    return 127;
  }
  if (unshare(CLONE_NEWNS) != 0) {
    std::perror("private-tmp: unshare");
    return 1;
  }
  // Private first, so that the new /tmp does not propagate back to the caller's namespace.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0) {
    std::perror("private-tmp: mount");
    return 1;
  }
  fexecve(program, argv + 1, environ);
  std::perror(argv[1]);
  return 127;
}
