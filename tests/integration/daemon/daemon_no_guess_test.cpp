// The daemon reads pool images with the format in their record: a guest that writes a qcow2
// header naming a host file (and claiming 4 TiB) into its raw disk gets its raw bytes exported,
// not the host file, and the record's size; a qcow2 image may have a backing file only where the
// daemon made it so, its own template. Checked with gunzip and qemu-img.
#include <filesystem>
#include <string>

#include "tests/integration/daemon/daemon_hostile.h"

namespace virtscratch::test {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class DaemonNoGuess : public DaemonHostile {
 protected:
  // Exports `image` to `dest`; the job's outcome: "" when it succeeded, else its message.
  std::string exportTo(ManagerClient& manager, const sdbus::ObjectPath& image,
                       const std::string& dest) {
    JobSignals signals;
    auto slot = watchJobs(bus(), signals);
    sdbus::ObjectPath job = manager.Export(image, newOutput(dest), {});
    EXPECT_TRUE(pumpUntil([&] { return signals.completed.count(job) != 0; }, 120s));
    auto [ok, message] = signals.completed[job];
    return ok ? std::string() : (message.empty() ? "failed" : message);
  }

  std::string gunzipped(const std::string& gz) {
    CommandResult r = run({"gzip", "-dc", gz});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return r.out;
  }

  // A qcow2 header naming `backing` (of format raw) and claiming 4 TiB: what a guest can write.
  std::string hostileHeader(const std::string& backing) {
    std::string header = dir_->file("header.qcow2");
    EXPECT_EQ(run({"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw",
                   header, "4T"})
                  .exitCode,
              0);
    return readFile(header);
  }
};

TEST_F(DaemonNoGuess, ExportsARawImageAsItsRawBytesWhateverHeaderTheGuestWroteInIt) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = allocate(manager, kDomainA, imageSpec(64 * kMiB, "raw", "none"));
  std::string file = ImageClient(bus(), image).Path();
  writeFileAt(file, 0, hostileHeader(outside_ + "/secret"));
  writeFileAt(file, 40 * kMiB, "guest data");
  std::string dest = dir_->file("raw.gz");
  ASSERT_EQ(exportTo(manager, image, dest), "");
  std::string bytes = gunzipped(dest);
  EXPECT_EQ(bytes.size(), 64 * kMiB) << "the header claims 4 TiB; the record says 64 MiB";
  EXPECT_TRUE(bytes == readFile(file)) << "the export is not the image's raw bytes";
  EXPECT_EQ(bytes.find("the secret"), std::string::npos) << "a host file reached the export";
}

TEST_F(DaemonNoGuess, RefusesABackingFileTheDaemonDidNotMake) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = allocate(manager, kDomainA, imageSpec(64 * kMiB, "qcow2", "none"));
  std::string file = ImageClient(bus(), image).Path();
  ASSERT_EQ(run({"qemu-img", "rebase", "-u", "-f", "qcow2", "-b", outside_ + "/secret", "-F", "raw",
                 file})
                .exitCode,
            0);
  std::string dest = dir_->file("qcow2.gz");
  std::string failure = exportTo(manager, image, dest);
  EXPECT_NE(failure.find("'" + outside_ + "/secret'"), std::string::npos) << failure;
  EXPECT_EQ(failure.find("the secret'"), std::string::npos);
  EXPECT_EQ(std::filesystem::file_size(dest), 0u) << "a failed export leaves its file empty";
  expectStillServing();
}

TEST_F(DaemonNoGuess, RefusesAQcow2ImageWhoseSizeIsNotTheRecordsNamingBoth) {
  startDaemon();
  ManagerClient manager(bus());
  auto image = allocate(manager, kDomainA, imageSpec(64 * kMiB, "qcow2", "none"));
  std::string file = ImageClient(bus(), image).Path();
  ASSERT_EQ(run({"qemu-img", "resize", "-q", "-f", "qcow2", file, "4T"}).exitCode, 0);
  std::string dest = dir_->file("grown.gz");
  std::string failure = exportTo(manager, image, dest);
  EXPECT_NE(failure.find(std::to_string(64 * kMiB)), std::string::npos) << failure;
  EXPECT_NE(failure.find(std::to_string(4 * kTiB)), std::string::npos) << failure;
  EXPECT_EQ(std::filesystem::file_size(dest), 0u) << "a failed export leaves its file empty";
}

TEST_F(DaemonNoGuess, ReadsAnOverlayThroughItsOwnTemplateOnlyAndRefusesAnyOther) {
  DaemonConfig config;
  config.templates = "overlay";
  startDaemon(config);
  ManagerClient manager(bus());
  const Spec spec = imageSpec(64 * kMiB, "qcow2", "ext4");
  allocate(manager, kDomainA, spec);
  auto overlay = allocate(manager, kDomainB, spec);
  std::string file = ImageClient(bus(), overlay).Path();
  CommandResult info = run({"qemu-img", "info", "--output=json", file});
  ASSERT_NE(info.out.find("\"backing-filename\""), std::string::npos)
      << "the second image is no overlay; nothing to check: " << info.out;
  // Its own template: exported as qemu-img reads it.
  std::string dest = dir_->file("overlay.gz");
  ASSERT_EQ(exportTo(manager, overlay, dest), "");
  ASSERT_EQ(run({"qemu-img", "convert", "-f", "qcow2", "-O", "raw", file, dir_->file("want.raw")})
                .exitCode,
            0);
  EXPECT_TRUE(gunzipped(dest) == readFile(dir_->file("want.raw")));
  // A copy of the template outside the pool named instead: refused, though it is the same image.
  std::string backing = info.out.substr(info.out.find("\"backing-filename\": \"") + 21);
  backing = backing.substr(0, backing.find('"'));
  std::string copy = outside_ + "/template-copy.qcow2";
  ASSERT_EQ(run({"cp", backing, copy}).exitCode, 0);
  ASSERT_EQ(
      run({"qemu-img", "rebase", "-u", "-f", "qcow2", "-b", copy, "-F", "qcow2", file}).exitCode,
      0);
  std::string refused = dir_->file("elsewhere.gz");
  std::string failure = exportTo(manager, overlay, refused);
  EXPECT_NE(failure.find("'" + copy + "'"), std::string::npos) << failure;
  EXPECT_NE(failure.find("not its template"), std::string::npos) << failure;
  EXPECT_EQ(std::filesystem::file_size(refused), 0u) << "a failed export leaves its file empty";
}

}  // namespace
}  // namespace virtscratch::test
