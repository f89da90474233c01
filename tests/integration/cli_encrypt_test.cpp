// `virt-scratch create --encrypt luks` checked only with QEMU's own LUKS code: qemu-img info says
// the image is encrypted, qemu-img check and convert open it with the key, and what they decrypt
// is a filesystem each filesystem's checker accepts; the plaintext is nowhere in the file.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "tests/support/filesystem_check.h"
#include "tests/support/json_value.h"
#include "tests/support/qemu_img.h"
#include "tests/support/test_util.h"

namespace virtscratch::test {
namespace {

const std::string kBin = VIRT_SCRATCH_BIN;

// qemu-img `head...`, then `keyed` (withKey), then `tail...`.
CommandResult qemuImg(std::vector<std::string> head, const std::vector<std::string>& keyed,
                      const std::vector<std::string>& tail = {}) {
  head.insert(head.begin(), "qemu-img");
  head.insert(head.end(), keyed.begin(), keyed.end());
  head.insert(head.end(), tail.begin(), tail.end());
  return run(head);
}

class EncryptedCreate : public ::testing::TestWithParam<std::string> {
 protected:
  TempDir dir;
  std::string key = dir.file("key");
  void SetUp() override { writeFileAt(key, 0, "c2NyYXRjaC1rZXktZm9yLXRoZS10ZXN0cw=="); }
};

TEST_P(EncryptedCreate, QemuDecryptsAFilesystemItsCheckerAccepts) {
  const std::string& fs = GetParam();
  std::string image = dir.file("disk.qcow2");
  std::string label = fs == "vfat" ? "ENCRYPTED" : "encrypted";
  auto created = run({kBin, "create", "--size", "512M", "--filesystem", fs, "--label", label,
                      "--encrypt", "luks", "--key-file", key, image});
  ASSERT_EQ(created.exitCode, 0) << created.err;

  auto info = run({"qemu-img", "info", "--output=json", image});
  ASSERT_EQ(info.exitCode, 0) << info.err;
  Json q = Json::parse(info.out);
  EXPECT_TRUE(q["encrypted"].boolean());
  const Json& encrypt = q["format-specific"]["data"]["encrypt"];
  EXPECT_EQ(encrypt["format"].str(), "luks");
  EXPECT_EQ(encrypt["cipher-alg"].str(), "aes-256");
  EXPECT_EQ(encrypt["cipher-mode"].str(), "xts");
  EXPECT_EQ(encrypt["ivgen-alg"].str(), "plain64");

  auto check = qemuImg({"check"}, withKey(image, key));
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
  std::string raw = dir.file("guest.raw");
  auto converted = qemuImg({"convert"}, withKey(image, key), {"-O", "raw", raw});
  ASSERT_EQ(converted.exitCode, 0) << converted.err;
  CommandResult checked = checkFilesystem(fs, raw);
  EXPECT_EQ(checked.exitCode, 0) << fs << ": " << checked.out << checked.err;
  auto blkid = parseExport(run({"blkid", "-p", "-o", "export", raw}).out);
  EXPECT_EQ(blkid["TYPE"], fs);
  EXPECT_EQ(blkid["LABEL"], label);
  // Without the key the bytes are noise: blkid finds no filesystem in the image file itself.
  EXPECT_EQ(parseExport(run({"blkid", "-p", "-o", "export", image}).out)["TYPE"], "");
}

INSTANTIATE_TEST_SUITE_P(Filesystems, EncryptedCreate,
                         ::testing::Values("ext4", "xfs", "btrfs", "vfat", "swap"),
                         [](const auto& param) { return param.param; });

TEST_F(EncryptedCreate, IsIdenticalToTheUnencryptedImageOnceDecrypted) {
  // swap's header is all that mkswap writes and it depends only on the UUID and label, so two
  // images from one spec hold the same guest bytes.
  std::vector<std::string> spec = {
      kBin,   "create",  "--size",       "256M",   "--filesystem",
      "swap", "--label", "scratch-swap", "--uuid", "3f1a52a6-1c1b-4c3e-9d59-0a4a2a6f7b10"};
  std::vector<std::string> encrypted = spec, plain = spec;
  encrypted.insert(encrypted.end(), {"--encrypt", "luks", "--key-file", key, dir.file("e.qcow2")});
  plain.push_back(dir.file("p.qcow2"));
  ASSERT_EQ(run(encrypted).exitCode, 0);
  ASSERT_EQ(run(plain).exitCode, 0);
  auto compared = qemuImg({"compare"}, withKey(dir.file("e.qcow2"), key),
                          {"driver=qcow2,file.filename=" + dir.file("p.qcow2")});
  EXPECT_EQ(compared.exitCode, 0) << compared.out << compared.err;
}

TEST_F(EncryptedCreate, KeepsThePlaintextOutOfTheFileAndOpensWithNoOtherKey) {
  std::string content = dir.file("content");
  std::string pattern;
  for (int i = 0; pattern.size() < 1024 * 1024; ++i)
    pattern += "VS-PATTERN-" + std::to_string(i) + ";";
  ASSERT_EQ(run({"mkdir", content}).exitCode, 0);
  writeFileAt(content + "/pattern", 0, pattern);
  std::string image = dir.file("disk.qcow2");
  ASSERT_EQ(run({kBin, "create", "--size", "256M", "--content", content, "--encrypt", "luks",
                 "--key-file", key, image})
                .exitCode,
            0);
  std::string bytes = readFile(image);
  EXPECT_EQ(bytes.find("VS-PATTERN-"), std::string::npos) << "the plaintext is in the image file";

  std::string raw = dir.file("guest.raw");
  auto converted = qemuImg({"convert"}, withKey(image, key), {"-O", "raw", raw});
  ASSERT_EQ(converted.exitCode, 0) << converted.err;
  EXPECT_EQ(run({"debugfs", "-R", "cat /pattern", raw}).out, pattern);

  std::string other = dir.file("other-key");
  writeFileAt(other, 0, "c2NyYXRjaC1rZXktZm9yLXRoZS10ZXN0cw==x");
  auto wrong = qemuImg({"check"}, withKey(image, other));
  EXPECT_NE(wrong.exitCode, 0);
  EXPECT_NE(wrong.err.find("Invalid password"), std::string::npos) << wrong.err;
}

TEST_F(EncryptedCreate, GivesEveryImageItsOwnVolumeKey) {
  for (const char* name : {"a.qcow2", "b.qcow2"}) {
    ASSERT_EQ(run({kBin, "create", "--size", "64M", "--encrypt", "luks", "--key-file", key,
                   dir.file(name)})
                  .exitCode,
              0);
  }
  auto uuidOf = [&](const char* name) {
    return Json::parse(run({"qemu-img", "info", "--output=json", dir.file(name)})
                           .out)["format-specific"]["data"]["encrypt"]["uuid"]
        .str();
  };
  EXPECT_NE(uuidOf("a.qcow2"), uuidOf("b.qcow2"));
  // Same key, same guest size, different master keys: the encrypted headers differ.
  EXPECT_NE(readFile(dir.file("a.qcow2")).substr(65536, 4096),
            readFile(dir.file("b.qcow2")).substr(65536, 4096));
}

struct BadEncryption {
  std::string name;
  std::vector<std::string> args;  // after create --size 64M
  std::string keyBytes;           // written to the key file when not empty
  std::string message;            // a part of the error
};

void PrintTo(const BadEncryption& bad, std::ostream* os) { *os << bad.name; }

class EncryptedCreateRefuses : public ::testing::TestWithParam<BadEncryption> {};

TEST_P(EncryptedCreateRefuses, WithAClearMessageAndLeavesNothing) {
  const BadEncryption& bad = GetParam();
  TempDir dir;
  std::string key = dir.file("key");
  if (!bad.keyBytes.empty()) writeFileAt(key, 0, bad.keyBytes);
  std::vector<std::string> argv = {kBin, "create", "--size", "64M"};
  for (const std::string& a : bad.args) argv.push_back(a == "KEY" ? key : a);
  argv.push_back(dir.file("disk.img"));
  auto r = run(argv);
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.err.find(bad.message), std::string::npos) << r.err;
  std::vector<std::string> left = dir.entries();
  std::erase(left, "key");
  EXPECT_TRUE(left.empty()) << left.front();
}

INSTANTIATE_TEST_SUITE_P(
    Inputs, EncryptedCreateRefuses,
    ::testing::Values(
        BadEncryption{"UnknownScheme", {"--encrypt", "aes"}, "", "unknown encryption 'aes'"},
        BadEncryption{"NoKeyFile", {"--encrypt", "luks"}, "", "--key-file"},
        BadEncryption{"KeyFileWithoutEncryption", {"--key-file", "KEY"}, "k", "--encrypt luks"},
        BadEncryption{"RawFormat",
                      {"--format", "raw", "--encrypt", "luks", "--key-file", "KEY"},
                      "k",
                      "format raw"},
        BadEncryption{"Preallocation",
                      {"--preallocation", "falloc", "--encrypt", "luks", "--key-file", "KEY"},
                      "k",
                      "preallocation 'falloc'"},
        BadEncryption{"KeyNotUtf8",
                      {"--encrypt", "luks", "--key-file", "KEY"},
                      std::string("ab\xff\xfe", 4),
                      "not UTF-8"},
        BadEncryption{"MissingKeyFile",
                      {"--encrypt", "luks", "--key-file", "/nonexistent/key"},
                      "",
                      "/nonexistent/key"}),
    [](const auto& param) { return param.param.name; });

}  // namespace
}  // namespace virtscratch::test
