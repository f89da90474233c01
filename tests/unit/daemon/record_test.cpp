#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/domain_uuid.h"
#include "daemon/image_record.h"
#include "daemon/record_file.h"
#include "base/unique_fd.h"
#include "tests/support/test_util.h"

namespace virtscratch::daemon {
namespace {

using test::TempDir;

StoredRecord sampleRecord() {
  StoredRecord s;
  ImageRecord& r = s.record;
  r.domainUuid = "6f1b2c3d-0000-4000-8000-00000000abcd";
  r.domainName = "web 1 (été)";
  r.target = "vdc";
  r.id = imageIdOf(r.domainUuid, r.target);
  r.spec.size = uint64_t{5} << 30;
  r.spec.format = image::ImageFormat::kRaw;
  r.spec.filesystem = image::Filesystem::kXfs;
  r.spec.label = "scratch=1;x";
  r.spec.partition = image::PartitionTable::kGpt;
  r.filesystemUuid = "0d5a3b56-84f3-4c1e-9a51-7d1e2f3a4b5c";
  r.lifetime = Lifetime::kDomain;
  r.createdUs = 1700000000123456;
  s.templateName = "0123456789abcdef";
  return s;
}

TEST(RecordFile, SurvivesARoundTripThroughTheFile) {
  TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  StoredRecord in = sampleRecord();
  ASSERT_TRUE(writeRecordAt(fd.get(), in).ok());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"vdc.record"});
  auto out = readRecordAt(fd.get(), "vdc.record", "vdc.record");
  ASSERT_TRUE(out.ok()) << out.status().message();
  const ImageRecord& a = in.record;
  const ImageRecord& b = out->record;
  EXPECT_EQ(b.id, "6f1b2c3d00004000800000000000abcd_vdc");
  EXPECT_EQ(b.domainUuid, a.domainUuid);
  EXPECT_EQ(b.domainName, a.domainName);
  EXPECT_EQ(b.target, a.target);
  EXPECT_EQ(b.spec.size, a.spec.size);
  EXPECT_EQ(b.spec.format, a.spec.format);
  EXPECT_EQ(b.spec.filesystem, a.spec.filesystem);
  EXPECT_EQ(b.spec.label, a.spec.label);
  EXPECT_EQ(b.spec.partition, a.spec.partition);
  EXPECT_EQ(b.spec.preallocation, a.spec.preallocation);
  EXPECT_EQ(b.filesystemUuid, a.filesystemUuid);
  EXPECT_EQ(b.lifetime, a.lifetime);
  EXPECT_EQ(b.createdUs, a.createdUs);
  EXPECT_EQ(b.state, ImageState::kReady);
  EXPECT_EQ(out->templateName, in.templateName);
}

TEST(RecordFile, ReplacesAnOldRecordWholly) {
  TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  StoredRecord in = sampleRecord();
  ASSERT_TRUE(writeRecordAt(fd.get(), in).ok());
  in.record.lifetime = Lifetime::kManual;
  in.templateName.clear();
  ASSERT_TRUE(writeRecordAt(fd.get(), in).ok());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"vdc.record"});
  auto out = readRecordAt(fd.get(), "vdc.record", "vdc.record");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->record.lifetime, Lifetime::kManual);
  EXPECT_EQ(out->templateName, "");
}

TEST(RecordFile, NeverReadsThroughASymlink) {
  TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(writeRecordAt(fd.get(), sampleRecord()).ok());
  ASSERT_EQ(symlink("vdc.record", dir.file("vdd.record").c_str()), 0);
  EXPECT_FALSE(readRecordAt(fd.get(), "vdd.record", "vdd.record").ok());
}

TEST(RecordFile, RejectsRecordsWithBadFields) {
  std::string good = serializeRecord(sampleRecord());
  ASSERT_TRUE(parseRecord(good, "x").ok());
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string text = good;
    size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text.replace(at, from.size(), to);
  };
  EXPECT_FALSE(parseRecord(replace("domain=6f1b", "domain=../../"), "x").ok());
  EXPECT_FALSE(parseRecord(replace("domain=6f1b", "domain=6F1B"), "x").ok());
  EXPECT_FALSE(parseRecord(replace("target=vdc", "target=../x"), "x").ok());
  EXPECT_FALSE(parseRecord(replace("format=raw", "format=vmdk"), "x").ok());
  EXPECT_FALSE(parseRecord(replace("size=5368709120", "size=big"), "x").ok());
  EXPECT_FALSE(parseRecord(replace("lifetime=domain", "lifetime=forever"), "x").ok());
  EXPECT_FALSE(parseRecord(replace("version=1", "version=2"), "x").ok());
  EXPECT_FALSE(parseRecord(replace("template=0123456789abcdef", "template=../a"), "x").ok());
  auto bad = parseRecord("not a key file", "dir/vdc.record");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("dir/vdc.record"), std::string::npos);
}

TEST(ImageRecord, ChecksTargets) {
  EXPECT_TRUE(validateTarget("vdb").ok());
  EXPECT_TRUE(validateTarget("sda1").ok());
  EXPECT_TRUE(validateTarget("abcdefghijklmnop").ok());
  EXPECT_FALSE(validateTarget("").ok());
  EXPECT_FALSE(validateTarget("abcdefghijklmnopq").ok());
  EXPECT_FALSE(validateTarget("1vd").ok());
  EXPECT_FALSE(validateTarget("VDB").ok());
  EXPECT_FALSE(validateTarget("vd/b").ok());
  EXPECT_FALSE(validateTarget("..").ok());
  auto status = validateTarget("vd\nb");
  EXPECT_EQ(status.message().find('\n'), std::string::npos);
}

TEST(ImageRecord, NamesLifetimesAndStates) {
  EXPECT_EQ(*parseLifetime("boot"), Lifetime::kBoot);
  EXPECT_EQ(*parseLifetime("domain"), Lifetime::kDomain);
  EXPECT_EQ(*parseLifetime("manual"), Lifetime::kManual);
  EXPECT_EQ(parseLifetime("forever").status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(toString(Lifetime::kDomain), "domain");
  EXPECT_EQ(toString(ImageState::kAttached), "attached");
}

TEST(DomainUuid, MakesIdsAndUuids) {
  EXPECT_TRUE(isUuid("6F1B2C3D-0000-4000-8000-00000000ABCD"));
  EXPECT_FALSE(isUuid("6f1b2c3d00004000800000000000abcd"));
  EXPECT_FALSE(isUuid("6f1b2c3d-0000-4000-8000-00000000abcg"));
  EXPECT_EQ(normaliseUuid("6F1B2C3D-0000-4000-8000-00000000ABCD"),
            "6f1b2c3d-0000-4000-8000-00000000abcd");
  EXPECT_EQ(imageIdOf("6f1b2c3d-0000-4000-8000-00000000abcd", "vdb"),
            "6f1b2c3d00004000800000000000abcd_vdb");
  std::string a = randomFilesystemUuid(image::Filesystem::kExt4);
  EXPECT_TRUE(isUuid(a));
  EXPECT_NE(a, randomFilesystemUuid(image::Filesystem::kExt4));
  EXPECT_EQ(randomFilesystemUuid(image::Filesystem::kVfat).size(), 9u);
  EXPECT_EQ(randomFilesystemUuid(image::Filesystem::kNone), "");
}

}  // namespace
}  // namespace virtscratch::daemon
