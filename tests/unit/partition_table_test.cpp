// Partition tables are checked with sfdisk and fdisk; reading is checked against tables that
// sfdisk wrote, with sfdisk's own account of them as the reference.
#include "image/partition_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "image/filesystem.h"
#include "tests/support/test_util.h"

namespace virtscratch::image {
namespace {

using test::run;
using test::runWithInput;
using test::TempDir;

constexpr uint64_t kMiBytes = 1024 * 1024;
constexpr uint64_t kGiBytes = 1024 * kMiBytes;
constexpr uint64_t kTiBytes = 1024 * kGiBytes;
constexpr const char* kLinuxGuid = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
constexpr const char* kSwapGuid = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";
constexpr const char* kBasicDataGuid = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";

// Every value of `key` in sfdisk's JSON, in order, without quotes. sfdisk writes one key per
// line, so a line scan is enough and keeps the test free of a JSON library.
std::vector<std::string> jsonValues(const std::string& json, const std::string& key) {
  std::vector<std::string> values;
  std::string needle = "\"" + key + "\":";
  for (size_t pos = json.find(needle); pos != std::string::npos; pos = json.find(needle, pos + 1)) {
    size_t begin = json.find_first_not_of(' ', pos + needle.size());
    size_t end = json.find_first_of(",\n", begin);
    std::string value = json.substr(begin, end - begin);
    if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    values.push_back(value);
  }
  return values;
}

std::string sfdiskJson(const std::string& path) {
  test::CommandResult r = run({"sfdisk", "--json", path});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return r.out;
}

UniqueFd openDisk(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CLOEXEC));
  EXPECT_TRUE(fd.valid()) << path;
  return fd;
}

std::string readAt(const std::string& path, uint64_t offset, size_t length) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string data(length, '\0');
  ssize_t n = pread(fd.get(), data.data(), length, static_cast<off_t>(offset));
  data.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return data;
}

// A sparse file of `size` bytes with a table written as planPartition places it.
Status makeTable(const std::string& path, PartitionTable table, uint64_t size, Filesystem fs,
                 const std::string& label) {
  test::makeSparseFile(path, size);
  Result<PartitionPlan> plan = planPartition(table, size);
  if (!plan.ok()) return plan.status();
  UniqueFd fd = openDisk(path);
  return writePartitionTable(fd.get(), table, size, fs, label, *plan);
}

void expectToolsAccept(const std::string& path) {
  test::CommandResult verify = run({"sfdisk", "--verify", path});
  EXPECT_EQ(verify.exitCode, 0) << verify.out << verify.err;
  EXPECT_EQ(verify.err, "");
  test::CommandResult list = run({"fdisk", "-l", path});
  EXPECT_EQ(list.exitCode, 0) << list.err;
}

struct DiskCase {
  const char* name;
  PartitionTable table;
  uint64_t diskSize;
  uint64_t expectedSectors;  // the partition's size; it always starts at sector 2048
};

void PrintTo(const DiskCase& c, std::ostream* os) { *os << c.name; }

class PartitionTableOnDisk : public ::testing::TestWithParam<DiskCase> {};

TEST_P(PartitionTableOnDisk, WritesOneAlignedPartitionThatSfdiskVerifies) {
  const DiskCase& c = GetParam();
  TempDir dir;
  std::string path = dir.file("disk.img");
  Status s = makeTable(path, c.table, c.diskSize, Filesystem::kExt4, "scratch");
  ASSERT_TRUE(s.ok()) << s.message();

  std::string json = sfdiskJson(path);
  bool gpt = c.table == PartitionTable::kGpt;
  EXPECT_EQ(jsonValues(json, "label"), std::vector<std::string>{gpt ? "gpt" : "dos"});
  EXPECT_EQ(jsonValues(json, "start"), std::vector<std::string>{"2048"});
  EXPECT_EQ(jsonValues(json, "size"), std::vector<std::string>{std::to_string(c.expectedSectors)});
  uint64_t end = 2048 + c.expectedSectors;
  EXPECT_EQ(end % 2048, 0u) << "the partition ends on a MiB boundary";
  if (gpt) {
    EXPECT_EQ(jsonValues(json, "type"), std::vector<std::string>{kLinuxGuid});
    EXPECT_EQ(jsonValues(json, "name"), std::vector<std::string>{"scratch"});
    // The partition ends before the backup table and nothing aligned would fit after it.
    uint64_t lastLba = std::stoull(jsonValues(json, "lastlba").at(0));
    EXPECT_EQ(lastLba, c.diskSize / 512 - 34);
    EXPECT_LE(end, lastLba + 1);
    EXPECT_GT(end + 2048, lastLba + 1);
    // The backup header is the disk's last whole sector.
    EXPECT_EQ(readAt(path, (c.diskSize / 512 - 1) * 512, 8), "EFI PART");
  } else {
    EXPECT_EQ(jsonValues(json, "type"), std::vector<std::string>{"83"});
    EXPECT_TRUE(jsonValues(json, "name").empty());
    EXPECT_GT(end + 2048, c.diskSize / 512);
  }
  expectToolsAccept(path);
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, PartitionTableOnDisk,
    ::testing::Values(
        DiskCase{"Gpt100MiB", PartitionTable::kGpt, 100 * kMiBytes, 98 * 2048},
        DiskCase{"Mbr100MiB", PartitionTable::kMbr, 100 * kMiBytes, 99 * 2048},
        DiskCase{"Gpt10GiB", PartitionTable::kGpt, 10 * kGiBytes, 10238 * 2048},
        DiskCase{"Mbr10GiB", PartitionTable::kMbr, 10 * kGiBytes, 10239 * 2048},
        DiskCase{"Gpt1TiB", PartitionTable::kGpt, kTiBytes, (1048576ull - 2) * 2048},
        DiskCase{"Mbr1TiB", PartitionTable::kMbr, kTiBytes, (1048576ull - 1) * 2048},
        DiskCase{"MbrAtTheLimit", PartitionTable::kMbr, 2 * kTiBytes, (2097152ull - 1) * 2048},
        DiskCase{"GptOddSize", PartitionTable::kGpt, 1000000000, 952 * 2048},
        DiskCase{"MbrOddSize", PartitionTable::kMbr, 1000000000, 952 * 2048},
        // 33 sectors past 100 MiB leave room for the backup table after a partition ending at
        // 100 MiB; one byte less does not. Sizes that are not whole sectors are floored.
        DiskCase{"GptBackupJustFits", PartitionTable::kGpt, 100 * kMiBytes + 33 * 512 + 100,
                 99 * 2048},
        DiskCase{"GptBackupJustMisses", PartitionTable::kGpt, 100 * kMiBytes + 33 * 512 - 1,
                 98 * 2048},
        DiskCase{"MbrPartialSector", PartitionTable::kMbr, 100 * kMiBytes + 511, 99 * 2048},
        DiskCase{"GptSmallest", PartitionTable::kGpt, 2 * kMiBytes + 33 * 512, 2048}),
    [](const ::testing::TestParamInfo<DiskCase>& p) { return std::string(p.param.name); });

TEST(PartitionTable, GivesSwapAndVfatPartitionsTheirGptTypes) {
  TempDir dir;
  const std::vector<std::pair<Filesystem, const char*>> cases = {
      {Filesystem::kSwap, kSwapGuid},
      {Filesystem::kVfat, kBasicDataGuid},
      {Filesystem::kXfs, kLinuxGuid},
      {Filesystem::kNone, kLinuxGuid}};
  for (const auto& [fs, guid] : cases) {
    std::string path = dir.file(std::string(toString(fs)) + ".img");
    Status s = makeTable(path, PartitionTable::kGpt, 64 * kMiBytes, fs, "");
    ASSERT_TRUE(s.ok()) << s.message();
    EXPECT_EQ(jsonValues(sfdiskJson(path), "type"), std::vector<std::string>{guid}) << toString(fs);
  }
}

TEST(PartitionTable, GivesSwapAndVfatPartitionsTheirMbrTypes) {
  TempDir dir;
  const std::vector<std::pair<Filesystem, unsigned>> cases = {
      {Filesystem::kSwap, 0x82}, {Filesystem::kVfat, 0x0c}, {Filesystem::kNone, 0x83}};
  for (const auto& [fs, code] : cases) {
    std::string path = dir.file(std::string(toString(fs)) + ".img");
    Status s = makeTable(path, PartitionTable::kMbr, 64 * kMiBytes, fs, "");
    ASSERT_TRUE(s.ok()) << s.message();
    std::vector<std::string> types = jsonValues(sfdiskJson(path), "type");
    ASSERT_EQ(types.size(), 1u);
    EXPECT_EQ(std::stoul(types[0], nullptr, 16), code) << toString(fs);
  }
}

TEST(PartitionTable, GivesEveryDiskAndPartitionFreshRandomIds) {
  TempDir dir;
  for (PartitionTable table : {PartitionTable::kGpt, PartitionTable::kMbr}) {
    std::string a = dir.file("a.img"), b = dir.file("b.img");
    ASSERT_TRUE(makeTable(a, table, 64 * kMiBytes, Filesystem::kExt4, "").ok());
    ASSERT_TRUE(makeTable(b, table, 64 * kMiBytes, Filesystem::kExt4, "").ok());
    std::string ja = sfdiskJson(a), jb = sfdiskJson(b);
    ASSERT_EQ(jsonValues(ja, "id").size(), 1u);
    EXPECT_NE(jsonValues(ja, "id"), jsonValues(jb, "id"));
    EXPECT_NE(jsonValues(ja, "id")[0], table == PartitionTable::kGpt
                                           ? "00000000-0000-0000-0000-000000000000"
                                           : "0x00000000");
    if (table == PartitionTable::kGpt) {
      ASSERT_EQ(jsonValues(ja, "uuid").size(), 1u);
      EXPECT_NE(jsonValues(ja, "uuid"), jsonValues(jb, "uuid"));
      EXPECT_NE(jsonValues(ja, "uuid"), jsonValues(ja, "id"));
    }
  }
}

TEST(PartitionTable, StoresNonAsciiNamesOfUpTo36Characters) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  std::string name;
  for (int i = 0; i < 36; ++i) name += "é";  // 72 bytes, 36 UTF-16 code units
  Status s = makeTable(path, PartitionTable::kGpt, 64 * kMiBytes, Filesystem::kExt4, name);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(jsonValues(sfdiskJson(path), "name"), std::vector<std::string>{name});
  expectToolsAccept(path);
}

TEST(PartitionTable, RejectsGptNamesLongerThan36Characters) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  std::string name(37, 'n');
  Status s = makeTable(path, PartitionTable::kGpt, 64 * kMiBytes, Filesystem::kExt4, name);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(s.message().find(name), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("at most 36"), std::string::npos) << s.message();
  EXPECT_EQ(run({"sfdisk", "--json", path}).out, "") << "nothing was written";
}

TEST(PartitionTable, RejectsGptNamesThatLibfdiskCannotEncode) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  Status s = makeTable(path, PartitionTable::kGpt, 64 * kMiBytes, Filesystem::kExt4, "bad\xff");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not valid UTF-8 at byte 3"), std::string::npos) << s.message();
  s = makeTable(path, PartitionTable::kGpt, 64 * kMiBytes, Filesystem::kExt4,
                "emoji \xF0\x9F\x98\x80");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("beyond U+FFFF"), std::string::npos) << s.message();
}

TEST(PartitionTable, RefusesMbrOnDisksPastTwoTebibytes) {
  uint64_t size = 2 * kTiBytes + kMiBytes;
  Result<PartitionPlan> plan = planPartition(PartitionTable::kMbr, size);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(plan.status().message().find(std::to_string(size)), std::string::npos)
      << plan.status().message();
  EXPECT_NE(plan.status().message().find("GPT"), std::string::npos) << plan.status().message();

  TempDir dir;
  std::string path = dir.file("disk.img");
  test::makeSparseFile(path, size);
  UniqueFd fd = openDisk(path);
  Status s = writePartitionTable(fd.get(), PartitionTable::kMbr, size, Filesystem::kExt4, "",
                                 {kMiBytes, kMiBytes});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("2 TiB"), std::string::npos) << s.message();
}

TEST(PartitionTable, RefusesDisksTooSmallForAPartition) {
  for (PartitionTable table : {PartitionTable::kGpt, PartitionTable::kMbr}) {
    uint64_t size = table == PartitionTable::kGpt ? 2 * kMiBytes + 33 * 512 - 1 : 2 * kMiBytes - 1;
    Result<PartitionPlan> plan = planPartition(table, size);
    ASSERT_FALSE(plan.ok()) << toString(table);
    EXPECT_EQ(plan.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(plan.status().message().find(std::to_string(size)), std::string::npos)
        << plan.status().message();
    EXPECT_NE(plan.status().message().find("too small"), std::string::npos);
  }
  EXPECT_FALSE(planPartition(PartitionTable::kGpt, 0).ok());
}

TEST(PartitionTable, WorksOnAnUnnamedTemporaryFile) {
  TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  uint64_t size = 64 * kMiBytes;
  ASSERT_EQ(ftruncate(fd.get(), static_cast<off_t>(size)), 0);
  Result<PartitionPlan> plan = planPartition(PartitionTable::kGpt, size);
  ASSERT_TRUE(plan.ok());
  Status s =
      writePartitionTable(fd.get(), PartitionTable::kGpt, size, Filesystem::kExt4, "tmp", *plan);
  ASSERT_TRUE(s.ok()) << s.message();
  std::string path = "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd.get());
  EXPECT_EQ(jsonValues(sfdiskJson(path), "name"), std::vector<std::string>{"tmp"});
  expectToolsAccept(path);
  EXPECT_EQ(fcntl(fd.get(), F_GETFD), FD_CLOEXEC) << "the descriptor is still open and ours";
}

TEST(PartitionTable, RefusesAFileShorterThanTheDisk) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  test::makeSparseFile(path, 10 * kMiBytes);
  UniqueFd fd = openDisk(path);
  uint64_t size = 100 * kMiBytes;
  Status s = writePartitionTable(fd.get(), PartitionTable::kGpt, size, Filesystem::kExt4, "",
                                 *planPartition(PartitionTable::kGpt, size));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(std::to_string(size)), std::string::npos) << s.message();
  EXPECT_EQ(run({"sfdisk", "--json", path}).out, "") << "nothing was written";

  Result<PartitionTableInfo> info = readPartitionTable(fd.get(), size);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find(std::to_string(size)), std::string::npos);
}

TEST(PartitionTable, RefusesAPartitionOutsideTheDisk) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  uint64_t size = 64 * kMiBytes;
  test::makeSparseFile(path, size);
  UniqueFd fd = openDisk(path);
  Status s = writePartitionTable(fd.get(), PartitionTable::kGpt, size, Filesystem::kExt4, "",
                                 {kMiBytes, size});
  EXPECT_FALSE(s.ok());
  s = writePartitionTable(fd.get(), PartitionTable::kGpt, size, Filesystem::kExt4, "",
                          {kMiBytes, size - kMiBytes});  // over the backup table
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("last usable"), std::string::npos) << s.message();
}

TEST(PartitionTable, ReadsNoTableFromAnEmptyDisk) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  test::makeSparseFile(path, 64 * kMiBytes);
  UniqueFd fd = openDisk(path);
  Result<PartitionTableInfo> info = readPartitionTable(fd.get(), 64 * kMiBytes);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->table, PartitionTable::kNone);
  EXPECT_TRUE(info->partitions.empty());
}

// Writes a table with sfdisk and returns sfdisk's JSON of it.
std::string sfdiskMakes(const std::string& path, uint64_t size, const std::string& script) {
  test::makeSparseFile(path, size);
  test::CommandResult r = runWithInput({"sfdisk", "--quiet", path}, script);
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return sfdiskJson(path);
}

TEST(PartitionTable, ReadsAGptTableAsSfdiskDescribesIt) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  uint64_t size = 64 * kMiBytes;
  std::string json = sfdiskMakes(path, size,
                                 "label: gpt\n"
                                 "start=2048, size=4096, type=" +
                                     std::string(kLinuxGuid) +
                                     ", name=\"alpha\"\n"
                                     "start=8192, size=16384, type=" +
                                     kSwapGuid + ", name=\"swap space\"\n");
  UniqueFd fd = openDisk(path);
  Result<PartitionTableInfo> info = readPartitionTable(fd.get(), size);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->table, PartitionTable::kGpt) << "not the protective MBR";
  EXPECT_EQ(info->id, jsonValues(json, "id").at(0));
  std::vector<std::string> starts = jsonValues(json, "start"), sizes = jsonValues(json, "size"),
                           types = jsonValues(json, "type"), names = jsonValues(json, "name"),
                           uuids = jsonValues(json, "uuid");
  ASSERT_EQ(info->partitions.size(), 2u);
  ASSERT_EQ(starts.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const PartitionInfo& p = info->partitions[i];
    EXPECT_EQ(p.number, static_cast<int>(i) + 1);
    EXPECT_EQ(p.offset, std::stoull(starts[i]) * 512);
    EXPECT_EQ(p.size, std::stoull(sizes[i]) * 512);
    EXPECT_EQ(p.type, types[i]);
    EXPECT_EQ(p.name, names[i]);
    EXPECT_EQ(p.uuid, uuids[i]);
  }
}

TEST(PartitionTable, ReadsAnMbrTableAsSfdiskDescribesIt) {
  TempDir dir;
  std::string path = dir.file("disk.img");
  uint64_t size = 64 * kMiBytes;
  std::string json = sfdiskMakes(path, size,
                                 "label: dos\n"
                                 "label-id: 0x1234abcd\n"
                                 "start=2048, size=4096, type=83\n"
                                 "start=8192, size=16384, type=c\n");
  UniqueFd fd = openDisk(path);
  Result<PartitionTableInfo> info = readPartitionTable(fd.get(), size);
  ASSERT_TRUE(info.ok()) << info.status().message();
  EXPECT_EQ(info->table, PartitionTable::kMbr);
  EXPECT_EQ(info->id, jsonValues(json, "id").at(0));
  EXPECT_EQ(info->id, "0x1234abcd");
  std::vector<std::string> starts = jsonValues(json, "start"), sizes = jsonValues(json, "size"),
                           types = jsonValues(json, "type");
  ASSERT_EQ(info->partitions.size(), 2u);
  ASSERT_EQ(starts.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const PartitionInfo& p = info->partitions[i];
    EXPECT_EQ(p.number, static_cast<int>(i) + 1);
    EXPECT_EQ(p.offset, std::stoull(starts[i]) * 512);
    EXPECT_EQ(p.size, std::stoull(sizes[i]) * 512);
    EXPECT_EQ(std::stoul(p.type.substr(2), nullptr, 16), std::stoul(types[i], nullptr, 16));
    EXPECT_EQ(p.type.substr(0, 2), "0x");
    EXPECT_EQ(p.name, "");
    EXPECT_EQ(p.uuid, "1234abcd-0" + std::to_string(i + 1));
  }
}

}  // namespace
}  // namespace virtscratch::image
