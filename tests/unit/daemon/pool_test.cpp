#include "daemon/pool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "daemon/pool_recovery.h"
#include "daemon/record_file.h"
#include "tests/support/test_util.h"
#include "vocabulary/image_id.h"

namespace virtscratch::daemon {
namespace {

using test::TempDir;

constexpr const char* kDomain = "11111111-2222-4333-8444-555555555555";

StoredRecord recordFor(const std::string& target) {
  StoredRecord s;
  s.record.domainUuid = kDomain;
  s.record.target = target;
  s.record.id = vocabulary::imageIdOf(kDomain, target);
  s.record.spec.size = 1 << 20;
  s.record.createdUs = 1;
  return s;
}

bool isSymlink(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

class PoolRecovery : public ::testing::Test {
 protected:
  void SetUp() override {
    pool = dir.file("pool");
    domain = pool + "/" + kDomain;
    ASSERT_EQ(mkdir(pool.c_str(), 0750), 0);
    ASSERT_EQ(mkdir(domain.c_str(), 0750), 0);
    poolFd.reset(open(pool.c_str(), O_RDONLY | O_DIRECTORY));
    domainFd.reset(open(domain.c_str(), O_RDONLY | O_DIRECTORY));
  }
  TempDir dir;
  std::string pool, domain;
  UniqueFd poolFd, domainFd;
};

TEST_F(PoolRecovery, KeepsWholeImagesAndDeletesHalfMadeAndTemporaryFiles) {
  ASSERT_TRUE(writeRecordAt(domainFd.get(), recordFor("vdb")).ok());
  test::writeFileAt(domain + "/vdb.qcow2", 0, "image");
  ASSERT_EQ(chmod((domain + "/vdb.qcow2").c_str(), 0644), 0);         // as daemons before made them
  test::writeFileAt(domain + "/vdc.raw", 0, "no record");             // allocation died
  ASSERT_TRUE(writeRecordAt(domainFd.get(), recordFor("vdd")).ok());  // release died
  test::writeFileAt(domain + "/.virt-scratch-tmp-0123", 0, "t");
  test::writeFileAt(domain + "/vde.record.tmp-release", 0, "t");
  test::writeFileAt(pool + "/.virt-scratch-tmp-4567", 0, "t");
  std::string empty = pool + "/22222222-2222-4333-8444-555555555555";
  ASSERT_EQ(mkdir(empty.c_str(), 0750), 0);

  auto recovery = recoverPool(poolFd.get(), pool);
  ASSERT_TRUE(recovery.ok()) << recovery.status().message();
  ASSERT_EQ(recovery->images.size(), 1u);
  EXPECT_EQ(recovery->images[0].record.target, "vdb");
  EXPECT_EQ(recovery->temporaryFiles, 3);
  EXPECT_EQ(recovery->halfMadeImages, 1);
  EXPECT_EQ(recovery->orphanRecords, 1);
  EXPECT_EQ(recovery->emptyDirectories, 1);
  EXPECT_TRUE(recovery->leftAlone.empty());
  std::vector<std::string> left = {"vdb.qcow2", "vdb.record"};
  auto listed = listDirectory(domainFd.get());
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> names = *listed;
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, left);
  EXPECT_FALSE(test::fileExists(empty));
  // Made as older daemons made them: tightened, and said so.
  EXPECT_EQ(recovery->summary(),
            "cleaned 3 temporary files, 1 half-made image, 1 record without image, "
            "1 empty directory; modes tightened: '" +
                std::string(kDomain) + "/vdb.qcow2' 0644 -> 0600, '" + kDomain + "' 0750 -> 0710");
}

TEST_F(PoolRecovery, DeletesReleasedFilesACrashLeftAndKeepsTheirDirectory) {
  std::string released = pool + "/" + kReleasedDirName;
  ASSERT_EQ(mkdir(released.c_str(), 0700), 0);
  test::writeFileAt(released + "/0123456789abcdef.vdb.qcow2", 0, "a released image");
  test::writeFileAt(released + "/fedcba9876543210.vdc.raw", 0, "another");
  auto recovery = recoverPool(poolFd.get(), pool);
  ASSERT_TRUE(recovery.ok()) << recovery.status().message();
  EXPECT_EQ(recovery->temporaryFiles, 2);
  EXPECT_TRUE(recovery->leftAlone.empty());
  UniqueFd releasedFd(open(released.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_TRUE(releasedFd) << "the directory stays: other hosts of a shared pool park files in it";
  auto listed = listDirectory(releasedFd.get());
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
}

TEST_F(PoolRecovery, LeavesSymlinksAndForeignFilesAloneAndNeverFollowsThem) {
  TempDir outside;
  test::writeFileAt(outside.file("vdb.qcow2"), 0, "precious");
  test::writeFileAt(outside.file("vdz.raw"), 0, "precious");
  std::string fakeDomain = pool + "/33333333-2222-4333-8444-555555555555";
  ASSERT_EQ(symlink(outside.path().c_str(), fakeDomain.c_str()), 0);
  ASSERT_EQ(symlink(outside.file("vdz.raw").c_str(), (domain + "/vdz.raw").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (pool + "/evil").c_str()), 0);
  ASSERT_EQ(mkdir((pool + "/not-a-uuid").c_str(), 0750), 0);
  test::writeFileAt(domain + "/notes.txt", 0, "mine");

  auto recovery = recoverPool(poolFd.get(), pool);
  ASSERT_TRUE(recovery.ok()) << recovery.status().message();
  EXPECT_TRUE(recovery->images.empty());
  EXPECT_EQ(recovery->leftAlone.size(), 5u) << recovery->summary();
  EXPECT_NE(recovery->summary().find("'evil' (symlink)"), std::string::npos) << recovery->summary();
  EXPECT_TRUE(isSymlink(fakeDomain));
  EXPECT_TRUE(isSymlink(domain + "/vdz.raw"));
  EXPECT_TRUE(isSymlink(pool + "/evil"));
  EXPECT_EQ(test::readFile(outside.file("vdb.qcow2")), "precious");
  EXPECT_EQ(test::readFile(outside.file("vdz.raw")), "precious");
  EXPECT_TRUE(test::fileExists(domain + "/notes.txt"));
}

TEST_F(PoolRecovery, LeavesAnUnreadableRecordAndItsImageAlone) {
  test::writeFileAt(domain + "/vdb.record", 0, "[image]\nversion=9\n");
  test::writeFileAt(domain + "/vdb.raw", 0, "data");
  auto recovery = recoverPool(poolFd.get(), pool);
  ASSERT_TRUE(recovery.ok());
  EXPECT_TRUE(recovery->images.empty());
  EXPECT_EQ(recovery->halfMadeImages, 0);
  EXPECT_EQ(recovery->leftAlone.size(), 2u) << recovery->summary();
  EXPECT_TRUE(test::fileExists(domain + "/vdb.raw"));
  EXPECT_TRUE(test::fileExists(domain + "/vdb.record"));
}

TEST(Pool, RemovesAnImageRecordFirstAndItsEmptyDirectory) {
  TempDir dir;
  Pool pool(dir.file("a/b/pool"));
  ASSERT_TRUE(pool.open().ok());
  struct stat st;
  ASSERT_EQ(stat(dir.file("a/b/pool").c_str(), &st), 0);
  // QEMU, as another user, must traverse to the images; nobody else may list them.
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  bool created = false;
  auto domainDir = pool.openDomainDir(kDomain, &created);
  ASSERT_TRUE(domainDir.ok());
  EXPECT_TRUE(created);
  ASSERT_EQ(fstat(domainDir->get(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  StoredRecord s = recordFor("vdb");
  ASSERT_TRUE(writeRecordAt(domainDir->get(), s).ok());
  test::writeFileAt(pool.imagePath(kDomain, "vdb", s.record.spec.format), 0, "x");
  pool.insert(s);
  EXPECT_EQ(pool.usedBytes(), 1u << 20);
  auto removed = pool.remove(s.record.id);
  ASSERT_TRUE(removed.ok()) << removed.status().message();
  auto listed = listDirectory(domainDir->get());
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed->empty());
  pool.removeDomainDirIfEmpty(kDomain);
  EXPECT_FALSE(test::fileExists(dir.file("a/b/pool/") + kDomain));
  EXPECT_EQ(pool.remove(s.record.id).status().code(), ErrorCode::kNotFound);
}

TEST(Pool, ListsADomainsImagesApartFromItsNeighboursAndKeepsTheSumOfSizes) {
  TempDir dir;
  Pool pool(dir.file("pool"));
  ASSERT_TRUE(pool.open().ok());
  auto insert = [&](const char* domain, const char* target, uint64_t size) {
    StoredRecord s = recordFor(target);
    s.record.domainUuid = domain;
    s.record.id = vocabulary::imageIdOf(domain, target);
    s.record.spec.size = size;
    pool.insert(s);
    return s.record.id;
  };
  // Ids sort by domain UUID: these sit on either side of kDomain's images.
  insert("11111111-2222-4333-8444-555555555554", "vdb", 1);
  std::string vdb = insert(kDomain, "vdb", 10);
  std::string vdc = insert(kDomain, "vdc", 100);
  insert("11111111-2222-4333-8444-555555555556", "vda", 1000);
  EXPECT_EQ(pool.idsInDomain(kDomain), (std::vector<std::string>{vdb, vdc}));
  EXPECT_TRUE(pool.idsInDomain("11111111-2222-4333-8444-555555555550").empty());
  EXPECT_EQ(pool.usedBytes(), 1111u);

  insert(kDomain, "vdc", 200);  // the same image again: its size counts once
  EXPECT_EQ(pool.usedBytes(), 1211u);
  bool created = false;
  auto domainDir = pool.openDomainDir(kDomain, &created);
  ASSERT_TRUE(domainDir.ok());
  ASSERT_TRUE(pool.remove(vdc).ok());
  EXPECT_EQ(pool.usedBytes(), 1011u);
  EXPECT_EQ(pool.idsInDomain(kDomain), (std::vector<std::string>{vdb}));
}

TEST(Pool, RefusesADomainDirectoryThatIsASymlink) {
  TempDir dir, outside;
  Pool pool(dir.file("pool"));
  ASSERT_TRUE(pool.open().ok());
  ASSERT_EQ(symlink(outside.path().c_str(), (dir.file("pool/") + kDomain).c_str()), 0);
  bool created = false;
  auto domainDir = pool.openDomainDir(kDomain, &created);
  EXPECT_FALSE(domainDir.ok());
  EXPECT_TRUE(outside.entries().empty());
}

}  // namespace
}  // namespace virtscratch::daemon
