// Encrypted images from the real daemon without libvirt: `virt-scratch allocate --encryption
// luks` makes an image qemu-img sees as encrypted, the key stays in the daemon's memory, and
// `virt-scratch key` hands it to root (and to no one else) through the daemon's sealed memory
// file; qemu-img opens the image with it. Export writes the guest's plaintext, decrypted with the
// key the daemon holds, for qcow2 and raw LUKS alike.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/integration/daemon/daemon_fixture.h"
#include "tests/support/filesystem_check.h"
#include "tests/support/json_value.h"
#include "tests/support/qemu_img.h"
#include "vocabulary/image_id.h"

namespace virtscratch::test {
namespace {

class DaemonEncryption : public DaemonTest {
 protected:
  // Exports image `id` through the daemon as `name`.gz and checks that it unpacks to a clean ext4
  // labelled `label`: the guest's plaintext.
  void expectExportedExt4(const std::string& id, const std::string& name,
                          const std::string& label) {
    std::string gz = dir_->file(name + ".gz");
    auto exported = cli({"export", "--daemon", id, gz});
    ASSERT_EQ(exported.exitCode, 0) << exported.err << daemonLog();
    ASSERT_EQ(run({"gunzip", "-k", gz}).exitCode, 0);
    CommandResult fsck = checkFilesystem("ext4", dir_->file(name));
    EXPECT_EQ(fsck.exitCode, 0) << fsck.out << fsck.err;
    EXPECT_EQ(parseExport(run({"blkid", "-p", "-o", "export", dir_->file(name)}).out)["LABEL"],
              label);
  }
};

TEST_F(DaemonEncryption, RootGetsTheKeyAsAFileAndQemuOpensTheImageWithIt) {
  startDaemon();
  auto made = cli({"allocate", kDomainA, "--size", "64M", "--label", "secret", "--encryption",
                   "luks", "--lifetime", "domain"});
  ASSERT_EQ(made.exitCode, 0) << made.err << daemonLog();
  std::string file = poolPath() + "/" + kDomainA + "/vdb.qcow2";
  EXPECT_EQ(made.out, file + "\n");
  auto info = Json::parse(run({"qemu-img", "info", "--output=json", file}).out);
  EXPECT_TRUE(info["encrypted"].boolean());

  auto shown = Json::parse(cli({"list", "--json"}).out);
  ASSERT_EQ(shown.array().size(), 1u);
  EXPECT_EQ(shown[0]["encryption"].str(), "luks");
  std::string id = shown[0]["id"].str();

  std::string key = dir_->file("key");
  auto got = cli({"key", id, "--output", key});
  ASSERT_EQ(got.exitCode, 0) << got.err;
  struct stat st;
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(daemonLog().find(readFile(key)), std::string::npos) << "the key is in the log";

  CommandResult checked = qemuImg({"check"}, withKey(file, key));
  EXPECT_EQ(checked.exitCode, 0) << checked.out << checked.err;
  std::string raw = dir_->file("guest.raw");
  ASSERT_EQ(qemuImg({"convert"}, withKey(file, key), {"-O", "raw", raw}).exitCode, 0);
  CommandResult fsck = checkFilesystem("ext4", raw);
  EXPECT_EQ(fsck.exitCode, 0) << fsck.out << fsck.err;
  EXPECT_EQ(parseExport(run({"blkid", "-p", "-o", "export", raw}).out)["LABEL"], "secret");

  // No one but root, and nothing for an image that has no key.
  auto refused = cli({"key", id, "--output", dir_->file("nobody-key")}, true);
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_NE(refused.err.find("denies"), std::string::npos) << refused.err;
  EXPECT_FALSE(fileExists(dir_->file("nobody-key")));
  ASSERT_EQ(cli({"allocate", kDomainA, "--size", "64M", "--target", "vdc", "--encryption", "none"})
                .exitCode,
            0);
  auto plain =
      cli({"key", vocabulary::imageIdOf(kDomainA, "vdc"), "--output", dir_->file("plain-key")});
  EXPECT_NE(plain.exitCode, 0);
  EXPECT_NE(plain.err.find("not encrypted"), std::string::npos) << plain.err;
  // An existing file is never overwritten.
  auto again = cli({"key", id, "--output", key});
  EXPECT_NE(again.exitCode, 0);
  EXPECT_NE(again.err.find(key), std::string::npos) << again.err;

  // Export writes the guest's plaintext, read through the key the daemon holds, to a caller
  // allowed to export, and to no one else.
  expectExportedExt4(id, "out", "secret");
  auto stranger = cli({"export", "--daemon", id, dir_->file("nobody.gz")}, true);
  EXPECT_NE(stranger.exitCode, 0);
  EXPECT_FALSE(fileExists(dir_->file("nobody.gz")) &&
               readFile(dir_->file("nobody.gz")).find("secret") != std::string::npos);

  // Released: the key is gone with the image.
  ASSERT_EQ(cli({"release", id}).exitCode, 0);
  EXPECT_FALSE(fileExists(file));
}

TEST_F(DaemonEncryption, ARawLuksImageIsExportedAsItsPlaintextUntilTheDaemonForgetsTheKey) {
  startDaemon();
  auto made = cli({"allocate", kDomainA, "--size", "64M", "--format", "raw", "--label", "rawkey",
                   "--encryption", "luks", "--lifetime", "domain"});
  ASSERT_EQ(made.exitCode, 0) << made.err << daemonLog();
  std::string file = poolPath() + "/" + kDomainA + "/vdb.raw";
  EXPECT_EQ(made.out, file + "\n");
  EXPECT_EQ(Json::parse(run({"qemu-img", "info", "--output=json", file}).out)["format"].str(),
            "luks");
  std::string id = vocabulary::imageIdOf(kDomainA, "vdb");
  expectExportedExt4(id, "raw", "rawkey");

  // Without libvirt the key lived in the daemon's memory: after a restart nothing can read the
  // image, and the export says why.
  EXPECT_EQ(stopDaemon(), 0);
  startDaemon();
  auto again = cli({"export", "--daemon", id, dir_->file("again.gz")});
  EXPECT_NE(again.exitCode, 0);
  EXPECT_NE(again.err.find("restarted"), std::string::npos) << again.err;
  EXPECT_FALSE(fileExists(dir_->file("again.gz")));
}

}  // namespace
}  // namespace virtscratch::test
