// The image of an incoming live migration (spec key incoming): made empty, whatever the spec
// asks to write, never from a template, recorded with the spec as given; refused where the target
// has an image already and with content. The real engine's images are checked with qemu-img and
// blkid: there must be nothing in them for the migration's storage copy to be taken for.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "image/size.h"
#include "tests/unit/daemon/service_fixture.h"
#include "vocabulary/image_id.h"

namespace virtscratch::daemon::fake {
namespace {

using image::kGiB;
using image::kMiB;
using ::virtscratch::test::fileExists;
using ::virtscratch::test::run;

AllocateRequest incoming(image::ImageFormat format) {
  AllocateRequest r;
  r.domain = kDomainA;
  r.spec.image.size = 10 * kGiB;
  r.spec.sizeGiven = true;
  r.spec.target = "vdb";
  r.spec.image.format = format;
  r.spec.image.filesystem = image::Filesystem::kExt4;
  r.spec.image.label = "scratch";
  r.spec.image.partition = image::PartitionTable::kGpt;
  r.spec.lifetime = vocabulary::Lifetime::kDomain;
  r.spec.incoming = true;
  return r;
}

TEST_F(ServiceOnRealEngine, AnIncomingImageIsEmptyButRecordedWithTheSpecAsGiven) {
  startService();
  auto qcow2 = allocate(incoming(image::ImageFormat::kQcow2));
  ASSERT_TRUE(qcow2.ok()) << qcow2.status().message();
  auto info = run({"qemu-img", "info", "--output=json", qcow2->path});
  EXPECT_NE(info.out.find("\"virtual-size\": 10737418240"), std::string::npos) << info.out;
  auto map = run({"qemu-img", "map", "--output=json", qcow2->path});
  EXPECT_EQ(map.exitCode, 0) << map.err;
  EXPECT_EQ(map.out.find("\"data\": true"), std::string::npos) << "data in it: " << map.out;
  EXPECT_EQ(run({"qemu-img", "check", qcow2->path}).exitCode, 0);

  AllocateRequest raw = incoming(image::ImageFormat::kRaw);
  raw.spec.target = "vdc";
  auto rawRecord = allocate(raw);
  ASSERT_TRUE(rawRecord.ok()) << rawRecord.status().message();
  struct stat st {};
  ASSERT_EQ(stat(rawRecord->path.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), 10 * kGiB);
  EXPECT_EQ(st.st_blocks, 0) << "a byte was written into the incoming raw image";
  EXPECT_TRUE(probe(rawRecord->path).empty()) << "blkid found a partition table or filesystem";

  // The record describes what the storage copy brings, not what was written.
  const ImageRecord* recorded = service->findImage(qcow2->id);
  ASSERT_NE(recorded, nullptr);
  EXPECT_EQ(recorded->spec.filesystem, image::Filesystem::kExt4);
  EXPECT_EQ(recorded->spec.partition, image::PartitionTable::kGpt);
  EXPECT_EQ(recorded->spec.label, "scratch");
  EXPECT_EQ(recorded->lifetime, vocabulary::Lifetime::kDomain);
  EXPECT_EQ(recorded->filesystemUuid, "") << "the source's filesystem UUID is not known here";
  EXPECT_EQ(recorded->state, ImageState::kReady);
}

TEST_F(ServiceTest, AnIncomingImageIsNeverMadeFromATemplate) {
  Config c = baseConfig();
  c.templateMode = TemplateMode::kReflink;
  startService(c);
  ASSERT_TRUE(allocate(incoming(image::ImageFormat::kQcow2)).ok());
  auto calls = fakeEngine.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].op, FakeImageEngine::Op::kCreate);
  EXPECT_EQ(calls[0].spec.filesystem, image::Filesystem::kNone);
  EXPECT_EQ(calls[0].spec.partition, image::PartitionTable::kNone);
  EXPECT_EQ(calls[0].spec.label, "");
  EXPECT_EQ(calls[0].spec.size, 10 * kGiB);
  EXPECT_EQ(calls[0].spec.format, image::ImageFormat::kQcow2);
}

TEST_F(ServiceTest, AnIncomingImageIsRefusedWhereTheTargetHasOneAndLeavesItAlone) {
  startService();
  AllocateRequest local = request(kDomainA, 64 * kMiB);
  auto made = allocate(local);
  ASSERT_TRUE(made.ok()) << made.status().message();
  uint64_t created = made->createdUs;
  AllocateRequest again = incoming(image::ImageFormat::kRaw);
  auto refused = allocate(again);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kAlreadyExists);
  const std::string& message = refused.status().message();
  EXPECT_NE(message.find(made->path), std::string::npos) << message;
  EXPECT_NE(message.find("virt-scratch release " + made->id), std::string::npos) << message;
  ASSERT_EQ(service->images().size(), 1u);
  EXPECT_EQ(service->findImage(made->id)->createdUs, created);
  EXPECT_EQ(fakeEngine.calls().size(), 1u);
}

TEST_F(ServiceTest, AnIncomingImageTakesNoContent) {
  startService();
  AllocateRequest r = incoming(image::ImageFormat::kQcow2);
  r.spec.image.contentDir = "/srv/seed";
  auto refused = allocate(r);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("content '/srv/seed'"), std::string::npos)
      << refused.status().message();
  EXPECT_TRUE(service->images().empty());
  EXPECT_FALSE(fileExists(dir.file("pool/") + kDomainA));
}

}  // namespace
}  // namespace virtscratch::daemon::fake
