// The fixture of the hostile-input tests of the real virt-scratchd on a private bus: a content
// root with a symlink out, a loop and a FIFO, a directory outside the pool a hostile client would
// like to reach, and checks that a request got its named error, that nothing changed outside the
// pool and that the daemon still serves.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {

namespace fs = std::filesystem;

inline constexpr uint64_t kGiB = uint64_t{1} << 30;
inline constexpr uint64_t kTiB = uint64_t{1} << 40;
inline constexpr char kPrefix[] = "org.virtscratch.Scratch1.Error.";
inline constexpr char kDomainC[] = "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5";
inline constexpr char kDomainD[] = "2d3e4f5a-6b7c-4d8e-9fa0-b1c2d3e4f5a6";
inline constexpr char kDomainE[] = "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7";

inline sdbus::Variant str(const std::string& s) { return sdbus::Variant(s); }

struct Outcome {
  std::string name;
  std::string message;
};

inline Outcome outcomeOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const sdbus::Error& e) {
    return {e.getName(), e.getMessage()};
  }
  return {};
}

class DaemonHostile : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    if (!dir_) return;
    // What a hostile client would like to reach: it must stay as it is.
    outside_ = dir_->file("outside");
    fs::create_directory(outside_);
    writeFileAt(outside_ + "/secret", 0, "the secret");
    fs::create_directory(contentPath() + "/ok");
    writeFileAt(contentPath() + "/ok/file", 0, "content");
    writeFileAt(contentPath() + "/file.txt", 0, "a file");
    fs::create_directory_symlink(outside_, contentPath() + "/escape");
    fs::create_symlink(contentPath() + "/loop", contentPath() + "/loop");
    mkfifo((contentPath() + "/fifo").c_str(), 0644);
  }

  // The tree outside the pool: the configuration, the bus, the content and the outside.
  std::map<std::string, std::string> outsideTree() {
    return treeSnapshot(dir_->path(), {"pool", "daemon.log"});
  }

  // The error of `call` must be `error` (a suffix of the project's names, or a whole name) and
  // its message must hold `names`.
  void expectError(const std::string& what, const std::function<void()>& call,
                   const std::string& error, const std::string& names) {
    SCOPED_TRACE(what);
    Outcome got = outcomeOf(call);
    std::string want = error.find('.') == std::string::npos ? kPrefix + error : error;
    EXPECT_EQ(got.name, want) << got.message.substr(0, 400);
    EXPECT_FALSE(got.message.empty());
    EXPECT_NE(got.message.find(names), std::string::npos) << got.message.substr(0, 400);
    ++cases_;
  }

  // The daemon is still there and serves a good request.
  void expectStillServing() {
    EXPECT_TRUE(nameHasOwner());
    ASSERT_FALSE(daemon_->exited()) << daemonLog();
    ManagerClient manager(bus());
    auto image = allocate(manager, kDomainE, {{"size", sdbus::Variant(kGiB)}});
    EXPECT_EQ(run({"qemu-img", "check", poolPath() + "/" + kDomainE + "/vdb.qcow2"}).exitCode, 0);
    EXPECT_EQ(manager.ReleaseDomain(kDomainE, {}), 1u);
  }

  std::string outside_;
  int cases_ = 0;
};

}  // namespace virtscratch::test
