// The Service and the files of its pool: restart and recovery, release, the warm path through
// templates, and export jobs. Pool logic runs on the FakeImageEngine and is checked on the file
// system and on what the engine was asked; images are checked with blkid, qemu-img and gzip on
// the real engine (ServiceOnRealEngine).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "image/size.h"
#include "tests/unit/daemon/service_fixture.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kMiB;
using ::virtscratch::test::fileExists;
using ::virtscratch::test::readFile;
using ::virtscratch::test::run;
using ::virtscratch::test::writeFileAt;

bool isSymlink(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

TEST_F(ServiceTest, ARestartListsTheSameImagesAndCleansWhatACrashLeft) {
  startService();
  auto a = allocate(request(kDomainA, 64 * kMiB));
  AllocateRequest qcow = request(kDomainB, 64 * kMiB, "vdc");
  qcow.spec.image.format = image::ImageFormat::kQcow2;
  qcow.spec.lifetime = vocabulary::Lifetime::kManual;
  auto b = allocate(qcow);
  ASSERT_TRUE(a.ok() && b.ok());
  service.reset();

  std::string domainA = dir.file("pool/") + kDomainA;
  writeFileAt(domainA + "/vdd.qcow2", 0, "half-made");         // no record
  writeFileAt(domainA + "/.virt-scratch-tmp-00ff", 0, "tmp");  // engine's fallback temp
  writeFileAt(domainA + "/vde.record.tmp-release", 0, "tmp");
  std::string orphan = dir.file("pool/") + kDomainB + "/vdf.record";  // its image is gone
  std::string text = readFile(dir.file("pool/") + kDomainB + "/vdc.record");
  text.replace(text.find("target=vdc"), 10, "target=vdf");
  writeFileAt(orphan, 0, text);
  // A record that describes another image is not the daemon's to judge: left alone.
  std::string foreign = dir.file("pool/") + kDomainB + "/vdh.record";
  ASSERT_EQ(link((dir.file("pool/") + kDomainB + "/vdc.record").c_str(), foreign.c_str()), 0);
  TempDir outside;
  writeFileAt(outside.file("secret"), 0, "keep me");
  ASSERT_EQ(symlink(outside.file("secret").c_str(), (domainA + "/vdg.raw").c_str()), 0);
  ASSERT_EQ(symlink(outside.path().c_str(), dir.file("pool/planted").c_str()), 0);
  struct stat before;
  ASSERT_EQ(stat(a->path.c_str(), &before), 0);

  listener.added.clear();
  startService();
  ASSERT_EQ(service->images().size(), 2u) << startReport;
  const ImageRecord* ra = service->findImage(a->id);
  const ImageRecord* rb = service->findImage(b->id);
  ASSERT_TRUE(ra != nullptr && rb != nullptr);
  EXPECT_EQ(ra->filesystemUuid, a->filesystemUuid);
  EXPECT_EQ(ra->path, a->path);
  EXPECT_EQ(rb->lifetime, vocabulary::Lifetime::kManual);
  EXPECT_EQ(rb->spec.format, image::ImageFormat::kQcow2);
  EXPECT_EQ(rb->createdUs, b->createdUs);
  EXPECT_EQ(ra->state, ImageState::kReady);
  EXPECT_TRUE(listener.added.empty());  // the bus layer lists images() after start
  EXPECT_NE(startReport.find("2 images"), std::string::npos) << startReport;
  EXPECT_NE(startReport.find("2 temporary files, 1 half-made image, 1 record without image"),
            std::string::npos)
      << startReport;
  EXPECT_NE(startReport.find("'planted' (symlink)"), std::string::npos) << startReport;
  EXPECT_FALSE(fileExists(domainA + "/vdd.qcow2"));
  EXPECT_FALSE(fileExists(domainA + "/.virt-scratch-tmp-00ff"));
  EXPECT_FALSE(fileExists(orphan));
  EXPECT_TRUE(fileExists(foreign));
  EXPECT_NE(startReport.find("vdh.record' (it describes"), std::string::npos) << startReport;
  EXPECT_TRUE(isSymlink(domainA + "/vdg.raw"));
  EXPECT_TRUE(isSymlink(dir.file("pool/planted")));
  EXPECT_EQ(readFile(outside.file("secret")), "keep me");
  struct stat after;  // the same image, untouched, and none made again
  ASSERT_EQ(stat(ra->path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(fakeEngine.count(FakeImageEngine::Op::kCreate), 2u);
  EXPECT_EQ(service->poolStatus().used, 128 * kMiB);
}

TEST_F(ServiceTest, ReleaseRemovesTheFilesAndTheEmptyDomainDirectory) {
  startService();
  auto a = allocate(request(kDomainA, 64 * kMiB));
  auto b = allocate(request(kDomainA, 64 * kMiB, "vdc"));
  auto c = allocate(request(kDomainB, 64 * kMiB));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_TRUE(service->releaseImage({}, c->id).ok());
  EXPECT_FALSE(fileExists(c->path));
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainB));
  ASSERT_EQ(listener.removed.size(), 1u);
  EXPECT_EQ(listener.removed[0].first.id, c->id);
  EXPECT_EQ(listener.removed[0].second, "released");
  EXPECT_EQ(service->releaseImage({}, c->id).code(), ErrorCode::kNotFound);

  resolver.names["web1"] = kDomainA;
  auto released = service->releaseDomain({}, "web1", "domain-undefined");
  ASSERT_TRUE(released.ok()) << released.status().message();
  EXPECT_EQ(*released, 2u);
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA));
  EXPECT_EQ(listener.removed.size(), 3u);
  EXPECT_EQ(listener.removed[2].second, "domain-undefined");
  EXPECT_TRUE(service->images().empty());
  EXPECT_EQ(*service->releaseDomain({}, kDomainB), 0u);
}

// Unlinking a large image waits for the filesystem to free (with `discard`, to trim) each of its
// blocks: a second or more for a few GiB written. The file leaves its path at once and is deleted
// on a worker, so the loop serves everyone else meanwhile; the caller of Release has its answer
// once the file is gone, as before.
TEST_F(ServiceTest, AReleaseAnswersOnceItsFileIsDeletedOffTheLoop) {
  startService();
  ReleaseOptions force;
  force.force = true;
  auto a = allocate(request(kDomainA, 64 * kMiB));
  auto b = allocate(request(kDomainB, 64 * kMiB));
  ASSERT_TRUE(a.ok() && b.ok());
  std::optional<Status> one;
  service->releaseImage({}, a->id, force, [&](Status s) { one = s; });
  EXPECT_FALSE(one.has_value()) << "answered before a worker deleted the file";
  EXPECT_FALSE(fileExists(a->path)) << "still at its path";
  ASSERT_TRUE(loop.runUntil([&] { return one.has_value(); }));
  EXPECT_TRUE(one->ok()) << one->message();
  std::optional<Result<uint32_t>> domain;
  service->releaseDomain({}, kDomainB, force, [&](Result<uint32_t> r) { domain = r; });
  ASSERT_TRUE(loop.runUntil([&] { return domain.has_value(); }));
  ASSERT_TRUE(domain->ok()) << domain->status().message();
  EXPECT_EQ(**domain, 1u);
  auto parked = run({"ls", "-A", dir.file("pool/.released")});
  EXPECT_EQ(parked.out, "") << "left in .released";
  // A refused release answers at once, and nothing waits for deletions that never began.
  std::optional<Status> refused;
  service->releaseImage({}, a->id, force, [&](Status s) { refused = s; });
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->code(), ErrorCode::kNotFound);
}

TEST_F(ServiceTest, ReleasesByLifetimeOnlyTheImagesAskedFor) {
  startService();
  AllocateRequest boot = request(kDomainA, 64 * kMiB);
  AllocateRequest kept = request(kDomainA, 64 * kMiB, "vdc");
  kept.spec.lifetime = vocabulary::Lifetime::kDomain;
  auto a = allocate(boot);
  auto b = allocate(kept);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(service->releaseByLifetime(kDomainA, {vocabulary::Lifetime::kBoot}, "domain-stopped",
                                       service->claimMark()),
            1u);
  EXPECT_FALSE(fileExists(a->path));
  EXPECT_TRUE(fileExists(b->path));
  ASSERT_TRUE(service->setState(b->id, ImageState::kAttached).ok());
  ASSERT_EQ(listener.changed.size(), 1u);
  EXPECT_EQ(listener.changed[0].state, ImageState::kAttached);
  EXPECT_EQ(service->setState("nope", ImageState::kReady).code(), ErrorCode::kNotFound);
}

// The watcher's guard against an event of an earlier run: what an Allocate made or returned after
// the mark was taken stays.
TEST_F(ServiceTest, ReleasesByLifetimeNothingAskedForAfterTheMark) {
  startService();
  auto earlier = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(earlier.ok()) << earlier.status().message();
  uint64_t mark = service->claimMark();
  auto again = allocate(request(kDomainA, 64 * kMiB));  // the same image, returned as it is
  ASSERT_TRUE(again.ok()) << again.status().message();
  auto later = allocate(request(kDomainA, 64 * kMiB, "vdc"));
  ASSERT_TRUE(later.ok()) << later.status().message();
  const std::vector<vocabulary::Lifetime> boot = {vocabulary::Lifetime::kBoot};

  EXPECT_EQ(service->releaseByLifetime(kDomainA, boot, "domain-stopped", mark), 0u);
  EXPECT_TRUE(fileExists(earlier->path));
  EXPECT_TRUE(fileExists(later->path));
  EXPECT_EQ(service->releaseByLifetime(kDomainA, boot, "domain-stopped", service->claimMark()), 2u);
  EXPECT_FALSE(fileExists(earlier->path));
  EXPECT_FALSE(fileExists(later->path));
}

// Counts the runs of mke2fs through a wrapper earlier in PATH.
class MkfsCounter {
 public:
  MkfsCounter() {
    std::string script =
        "#!/bin/sh\necho run >> " + dir_.file("count") + "\nexec /usr/sbin/mke2fs \"$@\"\n";
    std::ofstream(dir_.file("mke2fs")) << script;
    chmod(dir_.file("mke2fs").c_str(), 0755);
    const char* path = std::getenv("PATH");
    oldPath_ = path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
    setenv("PATH", (dir_.path() + ":" + oldPath_).c_str(), 1);
  }
  ~MkfsCounter() { setenv("PATH", oldPath_.c_str(), 1); }
  size_t runs() const {
    std::string text = fileExists(dir_.file("count")) ? readFile(dir_.file("count")) : "";
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  }

 private:
  TempDir dir_;
  std::string oldPath_;
};

class WarmPath : public ServiceOnRealEngine, public ::testing::WithParamInterface<TemplateMode> {};

TEST_P(WarmPath, TheSecondAllocationOfASpecRunsNoMkfs) {
  MkfsCounter mkfs;  // before the Service's threads start: setenv is not thread-safe
  Config c = baseConfig();
  c.templateMode = GetParam();
  startService(c);
  AllocateRequest r = request(kDomainA, 128 * kMiB);
  r.spec.image.format = image::ImageFormat::kQcow2;
  r.spec.image.label = "warm";
  auto first = allocate(r);
  ASSERT_TRUE(first.ok()) << first.status().message();
  size_t afterFirst = mkfs.runs();
  EXPECT_EQ(afterFirst, 1u);  // the template; the image is its clone
  r.domain = kDomainB;
  auto second = allocate(r);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_EQ(mkfs.runs(), afterFirst);
  EXPECT_NE(second->filesystemUuid, first->filesystemUuid);
  for (const auto& record : {*first, *second}) {
    auto check = run({"qemu-img", "check", record.path});
    EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
    std::string raw = dir.file(record.target + "-" + record.domainUuid + ".raw");
    ASSERT_EQ(run({"qemu-img", "convert", "-O", "raw", record.path, raw}).exitCode, 0);
    auto fs = probe(raw);
    EXPECT_EQ(fs["TYPE"], "ext4");
    EXPECT_EQ(fs["LABEL"], "warm");
    EXPECT_EQ(fs["UUID"], record.filesystemUuid);
    EXPECT_EQ(run({"e2fsck", "-fn", raw}).exitCode, 0);
  }
  EXPECT_NE(startReport.find("templates:"), std::string::npos) << startReport;
  auto info = run({"qemu-img", "info", second->path});
  bool overlay =
      info.out.find("backing file: " + dir.file("pool/.templates/")) != std::string::npos;
  EXPECT_EQ(overlay, GetParam() == TemplateMode::kOverlay) << info.out;
}

INSTANTIATE_TEST_SUITE_P(Modes, WarmPath,
                         ::testing::Values(TemplateMode::kReflink, TemplateMode::kOverlay));

TEST_F(ServiceTest, TemplatesAreNotImagesAndAreEvictedWhenUnusedAndOverBudget) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kOverlay;
  c.templateBudget = 1;  // any unused template is over it
  startService(c);
  AllocateRequest r = request(kDomainA, 128 * kMiB);
  r.spec.image.format = image::ImageFormat::kQcow2;
  auto image = allocate(r);
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_EQ(service->images().size(), 1u);
  EXPECT_EQ(service->poolStatus().used, 128 * kMiB);
  std::string templates = dir.file("pool/.templates");
  auto entries = [&] { return run({"ls", templates}).out; };
  // Overlays need their template; a reflink or copy does not, and it is evicted at once.
  bool overlay = false;
  for (const auto& call : fakeEngine.calls()) {
    if (call.op == FakeImageEngine::Op::kClone && call.name == "vdb.qcow2") overlay = call.overlay;
  }
  EXPECT_EQ(entries().empty(), !overlay) << entries();
  ASSERT_TRUE(service->releaseImage({}, image->id).ok());
  // Spares still being made keep the template until they are done.
  EXPECT_TRUE(loop.runUntil([&] { return entries().empty(); }, std::chrono::seconds(20)))
      << entries();
}

TEST_F(ServiceOnRealEngine, SparesSurviveARestartAndAllocationTakesOneWithoutCloning) {
  MkfsCounter mkfs;
  Config c = baseConfig();
  c.templateMode = TemplateMode::kOverlay;
  startService(c);
  AllocateRequest r = request(kDomainA, 128 * kMiB);
  r.spec.image.format = image::ImageFormat::kQcow2;
  ASSERT_TRUE(allocate(r).ok());
  std::string templates = dir.file("pool/.templates");
  auto spares = [&] {
    std::string ls = run({"ls", templates}).out;
    size_t count = 0;
    for (size_t at = ls.find(".spare-"); at != std::string::npos; at = ls.find(".spare-", at + 1)) {
      ++count;
    }
    return count;
  };
  ASSERT_TRUE(loop.runUntil([&] { return spares() == 2; }, std::chrono::seconds(30)));
  service.reset();
  std::vector<std::string> spareUuids;
  auto ls = run({"ls", templates}).out;
  for (size_t at = ls.find(".spare-"); at != std::string::npos; at = ls.find(".spare-", at + 1)) {
    spareUuids.push_back(ls.substr(at + 7, 36));
  }
  ASSERT_EQ(spareUuids.size(), 2u) << ls;

  startService(c);
  EXPECT_NE(startReport.find("1 kept with 2 spares"), std::string::npos) << startReport;
  r.domain = kDomainB;
  auto image = allocate(r);
  ASSERT_TRUE(image.ok()) << image.status().message();
  EXPECT_EQ(mkfs.runs(), 1u);
  EXPECT_TRUE(image->filesystemUuid == spareUuids[0] || image->filesystemUuid == spareUuids[1])
      << image->filesystemUuid;
  EXPECT_EQ(run({"qemu-img", "check", image->path}).exitCode, 0);
  std::string raw = dir.file("b.raw");
  ASSERT_EQ(run({"qemu-img", "convert", "-O", "raw", image->path, raw}).exitCode, 0);
  EXPECT_EQ(probe(raw)["UUID"], image->filesystemUuid);
  EXPECT_EQ(run({"ls", templates}).out.find(image->filesystemUuid), std::string::npos);

  AllocateRequest fixed = r;  // a spare has a random UUID: one asked for is cloned instead
  fixed.spec.target = "vdc";
  fixed.spec.image.uuid = "01234567-89ab-4cde-8f01-23456789abcd";
  auto named = allocate(fixed);
  ASSERT_TRUE(named.ok()) << named.status().message();
  EXPECT_EQ(named->filesystemUuid, fixed.spec.image.uuid);
  ASSERT_EQ(run({"qemu-img", "convert", "-O", "raw", named->path, raw}).exitCode, 0);
  EXPECT_EQ(probe(raw)["UUID"], fixed.spec.image.uuid);
}

// The descriptor a caller of Export passes: a new file open for writing.
UniqueFd newOutput(const std::string& path) {
  return UniqueFd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
}

TEST_F(ServiceOnRealEngine, ExportWritesAGzipIntoTheCallersFileThatGzipAccepts) {
  startService();
  auto image = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(image.ok()) << image.status().message();
  TempDir out;
  auto job = service->startExport(nobodyCaller(), image->id, {newOutput(out.file("a.gz")), 1, 1});
  ASSERT_TRUE(job.ok()) << job.status().message();
  Status status = waitForJob(*job);
  ASSERT_TRUE(status.ok()) << status.message();
  EXPECT_EQ(run({"gzip", "-t", out.file("a.gz")}).exitCode, 0);
  auto cmp = run({"sh", "-c", "gzip -dc '" + out.file("a.gz") + "' | cmp - '" + image->path + "'"});
  EXPECT_EQ(cmp.exitCode, 0) << cmp.out << cmp.err;
  EXPECT_EQ(listener.jobsAdded.back().operation, "export");

  // The file is not empty any more: never truncated, never appended to.
  UniqueFd again(open(out.file("a.gz").c_str(), O_WRONLY | O_CLOEXEC));
  auto refused = service->startExport({}, image->id, {std::move(again), 1, 1});
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("a.gz') is not empty"), std::string::npos)
      << refused.status().message();
}

TEST_F(ServiceTest, ExportRefusesDescriptorsThatAreNotAnEmptyFileOpenForWriting) {
  startService();
  auto image = allocate(request(kDomainA, 64 * kMiB));
  ASSERT_TRUE(image.ok());
  TempDir out;
  writeFileAt(out.file("a.gz"), 0, "");
  auto readOnly = service->startExport(nobodyCaller(), image->id,
                                       {UniqueFd(open(out.file("a.gz").c_str(), O_RDONLY)), 1, 0});
  EXPECT_EQ(readOnly.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(readOnly.status().message().find("a.gz') is open read-only"), std::string::npos)
      << readOnly.status().message();
  auto directory = service->startExport(
      {}, image->id, {UniqueFd(open(out.path().c_str(), O_RDONLY | O_DIRECTORY)), 1, 0});
  EXPECT_EQ(directory.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(directory.status().message().find("is a directory"), std::string::npos)
      << directory.status().message();
  EXPECT_EQ(service->startExport({}, image->id, {UniqueFd(), 1, 0}).status().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(service->startExport({}, "nope", {newOutput(out.file("b.gz")), 1, 0}).status().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(
      service->startExport({}, image->id, {newOutput(out.file("c.gz")), 12, 0}).status().code(),
      ErrorCode::kInvalidArgument);
  for (const char* name : {"a.gz", "b.gz", "c.gz"}) {
    EXPECT_EQ(std::filesystem::file_size(out.file(name)), 0u) << name;
  }
  EXPECT_EQ(fakeEngine.count(FakeImageEngine::Op::kExport), 0u);
}

TEST_F(ServiceOnRealEngine, ACancelledExportLeavesTheFileEmptyAndTheImageCanBeReleasedAfter) {
  startService();
  AllocateRequest r = request(kDomainA, 64 * kMiB);
  r.spec.image.preallocation = image::Preallocation::kFull;  // 64 MiB of data to compress
  auto image = allocate(r);
  ASSERT_TRUE(image.ok()) << image.status().message();
  TempDir out;
  auto job = service->startExport({}, image->id, {newOutput(out.file("a.gz")), 9, 1});
  ASSERT_TRUE(job.ok()) << job.status().message();
  EXPECT_EQ(service->releaseImage({}, image->id).code(), ErrorCode::kBusy);
  ASSERT_TRUE(service->cancelJob({}, *job).ok());
  Status status = waitForJob(*job);
  // The worker may have finished before the cancel reached it; either way nothing half-made.
  if (status.ok()) {
    EXPECT_EQ(run({"gzip", "-t", out.file("a.gz")}).exitCode, 0);
  } else {
    EXPECT_EQ(status.code(), ErrorCode::kCancelled) << status.message();
    EXPECT_NE(status.message().find("a.gz' was emptied again"), std::string::npos)
        << status.message();
    EXPECT_EQ(std::filesystem::file_size(out.file("a.gz")), 0u);
  }
  EXPECT_EQ(service->cancelJob({}, *job).code(), ErrorCode::kNotFound);
  EXPECT_TRUE(service->releaseImage({}, image->id).ok());
}

}  // namespace
}  // namespace virtscratch::daemon::fake
