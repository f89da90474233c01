#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/unique_fd.h"
#include "daemon/image_builder.h"
#include "daemon/image_record.h"
#include "daemon/record_file.h"
#include "image/filesystem_uuid.h"
#include "tests/support/test_util.h"
#include "vocabulary/domain_uuid.h"
#include "vocabulary/image_id.h"

namespace virtscratch::daemon {
namespace {

using test::TempDir;

StoredRecord sampleRecord() {
  StoredRecord s;
  ImageRecord& r = s.record;
  r.domainUuid = "6f1b2c3d-0000-4000-8000-00000000abcd";
  r.domainName = "web 1 (été)";
  r.target = "vdc";
  r.id = vocabulary::imageIdOf(r.domainUuid, r.target);
  r.spec.size = uint64_t{5} << 30;
  r.spec.format = image::ImageFormat::kRaw;
  r.spec.filesystem = image::Filesystem::kXfs;
  r.spec.label = "scratch=1;x";
  r.spec.partition = image::PartitionTable::kGpt;
  r.filesystemUuid = "0d5a3b56-84f3-4c1e-9a51-7d1e2f3a4b5c";
  r.lifetime = vocabulary::Lifetime::kDomain;
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
  in.record.lifetime = vocabulary::Lifetime::kManual;
  in.templateName.clear();
  ASSERT_TRUE(writeRecordAt(fd.get(), in).ok());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"vdc.record"});
  auto out = readRecordAt(fd.get(), "vdc.record", "vdc.record");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->record.lifetime, vocabulary::Lifetime::kManual);
  EXPECT_EQ(out->templateName, "");
}

// A boot image's record is written without the directory's fsync, and is the same record.
TEST(RecordFile, IsTheSameRecordWhenItsNameIsNotSynced) {
  TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  StoredRecord in = sampleRecord();
  ASSERT_TRUE(writeRecordAt(fd.get(), in, false).ok());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"vdc.record"});
  auto out = readRecordAt(fd.get(), "vdc.record", "vdc.record");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(serializeRecord(*out), serializeRecord(in));
}

// Only a plain boot image of this host's own pool may lose its record in a host crash.
TEST(RecordFile, OnlyAPlainBootImageOfAnOwnPoolSkipsTheFsyncOfItsName) {
  using vocabulary::Lifetime;
  ImageRecord plain = sampleRecord().record;
  plain.lifetime = Lifetime::kBoot;
  plain.host.clear();
  plain.incoming = false;
  plain.spec.encryption = image::Encryption::kNone;
  EXPECT_FALSE(needsDurableRecordName(plain));
  ImageRecord r = plain;
  r.lifetime = Lifetime::kDomain;
  EXPECT_TRUE(needsDurableRecordName(r));
  r.lifetime = Lifetime::kManual;
  EXPECT_TRUE(needsDurableRecordName(r));
  r = plain;
  r.host = "host-a";  // a shared pool's
  EXPECT_TRUE(needsDurableRecordName(r));
  r = plain;
  r.incoming = true;
  EXPECT_TRUE(needsDurableRecordName(r));
  r = plain;
  r.spec.encryption = image::Encryption::kLuks;
  EXPECT_TRUE(needsDurableRecordName(r));
}

// An incoming migration's mark is written only while it is set; a record without it (every
// record written before migration existed) is not incoming.
TEST(RecordFile, KeepsTheIncomingMarkWhileItIsSet) {
  TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY));
  StoredRecord in = sampleRecord();
  EXPECT_EQ(serializeRecord(in).find("incoming"), std::string::npos);
  in.record.incoming = true;
  ASSERT_TRUE(writeRecordAt(fd.get(), in).ok());
  auto out = readRecordAt(fd.get(), "vdc.record", "vdc.record");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_TRUE(out->record.incoming);
  in.record.incoming = false;
  ASSERT_TRUE(writeRecordAt(fd.get(), in).ok());
  out = readRecordAt(fd.get(), "vdc.record", "vdc.record");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_FALSE(out->record.incoming);
  in.record.incoming = true;
  std::string text = serializeRecord(in);
  size_t at = text.find("incoming=true");
  ASSERT_NE(at, std::string::npos);
  auto bad = parseRecord(text.replace(at, 13, "incoming=yes"), "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'yes'"), std::string::npos) << bad.status().message();
}

// A shared pool's record names the host that owns the image; others have no such key.
TEST(RecordFile, NamesTheOwningHostOnlyInASharedPool) {
  StoredRecord in = sampleRecord();
  EXPECT_EQ(serializeRecord(in).find("host="), std::string::npos);
  in.record.host = "hv-07";
  std::string text = serializeRecord(in);
  auto out = parseRecord(text, "x");
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->record.host, "hv-07");
  size_t at = text.find("host=hv-07");
  ASSERT_NE(at, std::string::npos);
  auto bad = parseRecord(text.replace(at, 10, "host=../hv"), "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'host'"), std::string::npos) << bad.status().message();
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

TEST(ImageRecord, NamesStates) { EXPECT_EQ(toString(ImageState::kAttached), "attached"); }

// The daemon gives every new image a filesystem UUID of its own (allocate_request.cpp).
TEST(ImageRecord, GetsRandomFilesystemUuids) {
  std::string a = image::randomFilesystemUuid(image::Filesystem::kExt4);
  EXPECT_TRUE(vocabulary::isUuid(a));
  EXPECT_NE(a, image::randomFilesystemUuid(image::Filesystem::kExt4));
  EXPECT_EQ(image::randomFilesystemUuid(image::Filesystem::kVfat).size(), 9u);
  EXPECT_EQ(image::randomFilesystemUuid(image::Filesystem::kNone), "");
}

}  // namespace
}  // namespace virtscratch::daemon
