// Encrypted scratch disks with a real guest: `virt-scratch enable --encrypt` names a libvirt
// secret in the disk's <encryption>, the hook's Allocate makes the image under a fresh key that
// the daemon gives libvirt as that secret before answering, QEMU opens it, and the guest writes
// and reads back 1 MiB through it. The host finds the guest's bytes nowhere in the file, and
// export gives them back decrypted; the key goes with the image (boot), or outlives restarts of
// the daemon and of libvirtd (domain). qcow2 and raw LUKS alike.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "tests/e2e/scratch_test.h"
#include "tests/support/json_value.h"

namespace virtscratch::test {
namespace {

class EncryptedScratchDisk : public ScratchTest {
 protected:
  bool hasSecret(const std::string& uuid) {
    return virsh({"secret-list"}).out.find(uuid) != std::string::npos;
  }
};

constexpr const char* kPatternLine = "VS-GUEST-PATTERN-0123456789-abcdefghijklmnopqrstuvwxyz\n";

// The md5 of what the guest writes (scripts/vm-env, vs.pattern): 1 MiB of kPatternLine.
std::string patternMd5() {
  std::string pattern;
  while (pattern.size() < 1024 * 1024) pattern += kPatternLine;
  pattern.resize(1024 * 1024);
  return runWithInput({"md5sum"}, pattern).out.substr(0, 32);
}

// The secret the domain's disk `target` names in its <encryption>, as virsh shows the definition.
std::string secretOf(const std::string& domainXml) {
  const std::string before = "<secret type='passphrase' uuid='";
  size_t at = domainXml.find(before);
  if (at == std::string::npos) return "";
  size_t start = at + before.size();
  if (domainXml.size() < start + 39) return "";
  return domainXml.compare(start + 36, 3, "'/>") == 0 ? domainXml.substr(start, 36) : "";
}

// qcow2 with QEMU's LUKS, or raw LUKS (QEMU's luks driver on the raw file).
class EncryptedScratchFormat : public EncryptedScratchDisk,
                               public ::testing::WithParamInterface<std::string> {};

TEST_P(EncryptedScratchFormat, TheGuestsBytesAreReadableOnlyThroughItsKeyWhichGoesAtTheStop) {
  const std::string& format = GetParam();
  startDaemon();
  Guest guest;
  guest.hold = true;
  guest.pattern = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(
      enable({"--size", "256M", "--label", "scratch", "--format", format, "--encrypt"}));
  std::string secret = secretOf(virsh({"dumpxml", "--inactive", name()}).out);
  ASSERT_FALSE(secret.empty()) << virsh({"dumpxml", "--inactive", name()}).out;
  EXPECT_FALSE(hasSecret(secret)) << "a key exists before the disk does";

  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err << daemonLog();
  std::string image = poolImage("vdb", format);
  ASSERT_TRUE(waitForConsole("VS-PATTERN md5=", 90s)) << console();
  EXPECT_NE(console().find("VS-PATTERN md5=" + patternMd5()), std::string::npos) << console();
  EXPECT_EQ(console().find("VS-PATTERN-FOUND"), std::string::npos) << "a fresh disk had data";

  // While it runs: libvirt holds the key, private (no value comes back), and the file is noise.
  EXPECT_TRUE(hasSecret(secret));
  EXPECT_NE(virsh({"secret-get-value", secret}).exitCode, 0) << "the key is not private";
  CommandResult info = run({"qemu-img", "info", "-U", image});
  EXPECT_NE(info.out.find("encrypted: yes"), std::string::npos) << info.out << info.err;
  EXPECT_NE(info.out.find(format == "raw" ? "file format: luks" : "file format: qcow2"),
            std::string::npos)
      << info.out;
  EXPECT_EQ(readFile(image).find("VS-GUEST-PATTERN"), std::string::npos)
      << "the guest's bytes are in the image file in plain text";

  // Export writes the plaintext the guest wrote, decrypted with the key the daemon holds; the
  // guest has unmounted the filesystem by the time it holds.
  ASSERT_TRUE(waitForConsole("VS-HOLDING", 60s)) << console();
  Json images = Json::parse(cli({"list", "--json"}).out);
  ASSERT_EQ(images.array().size(), 1u);
  std::string gz = dir_->file("exported.gz");
  r = cli({"export", "--daemon", images[0]["id"].str(), gz});
  ASSERT_EQ(r.exitCode, 0) << r.err << daemonLog();
  ASSERT_EQ(run({"gunzip", "-k", gz}).exitCode, 0);
  std::string exported = dir_->file("exported");
  EXPECT_EQ(runWithInput({"md5sum"}, run({"debugfs", "-R", "cat /pattern", exported}).out)
                .out.substr(0, 32),
            patternMd5());

  r = virsh({"destroy", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(waitForFile(image, false)) << "the image stayed after the stop: " << image;
  EXPECT_TRUE(pollUntil([&] { return !hasSecret(secret); }, 30s))
      << "the key outlived its image: " << virsh({"secret-list"}).out;
}

INSTANTIATE_TEST_SUITE_P(Formats, EncryptedScratchFormat, ::testing::Values("qcow2", "raw"),
                         [](const auto& param) { return param.param; });

TEST_F(EncryptedScratchDisk, ADomainLifetimeDiskKeepsItsDataAcrossDaemonAndLibvirtdRestarts) {
  startDaemon();
  Guest guest;
  guest.pattern = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(
      enable({"--size", "256M", "--label", "scratch", "--lifetime", "domain", "--encrypt"}));
  std::string secret = secretOf(virsh({"dumpxml", "--inactive", name()}).out);
  ASSERT_FALSE(secret.empty());
  std::string image = poolImage();

  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err << daemonLog();
  ASSERT_TRUE(waitForState("shut off", 90s)) << console();
  EXPECT_NE(console().find("VS-PATTERN md5=" + patternMd5()), std::string::npos) << console();
  ASSERT_TRUE(fileExists(image));
  EXPECT_TRUE(hasSecret(secret));

  EXPECT_EQ(stopDaemon(), 0);
  r = run({vmEnv(), "restart-libvirtd"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(hasSecret(secret)) << "the key did not survive libvirtd's restart";
  startDaemon();

  // The second boot (libvirt starts the console file afresh) finds what the first wrote, read
  // through the same key; a fresh disk would not have it.
  r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err << daemonLog();
  ASSERT_TRUE(waitForState("shut off", 90s)) << console();
  EXPECT_NE(console().find("VS-PATTERN-FOUND md5=" + patternMd5()), std::string::npos) << console();

  r = virsh({"undefine", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_TRUE(waitForFile(image, false)) << "the image stayed after undefine: " << image;
  EXPECT_TRUE(pollUntil([&] { return !hasSecret(secret); }, 30s))
      << "the key outlived its image: " << virsh({"secret-list"}).out;
}

TEST_F(EncryptedScratchDisk, AHotPluggedDiskIsAttachedWithItsKey) {
  startDaemon();
  Guest guest;
  guest.waitSeconds = 60;
  guest.pattern = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(
      enable({"--size", "256M", "--label", "scratch", "--attach", "hotplug", "--encrypt"}));
  std::string image = poolImage();
  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(waitForState("shut off", 120s)) << console() << daemonLog();
  EXPECT_NE(console().find("VS-PATTERN md5=" + patternMd5()), std::string::npos) << console();
  EXPECT_TRUE(waitForFile(image, false)) << "the image stayed after the stop: " << image;
}

// The daemon defines each secret through libvirtd while libvirtd runs the prepare hook of the
// domain that needs it (docs/design.md): domains started at once all start.
TEST_F(EncryptedScratchDisk, DomainsStartedAtOnceAllGetTheirKeys) {
  startDaemon();
  std::vector<std::string> domains = {name()};
  ASSERT_NO_FATAL_FAILURE(defineDomain({}));
  for (int i = 1; i < 4; ++i) {
    domains.push_back(name() + "-" + std::to_string(i));
    ASSERT_NO_FATAL_FAILURE(defineDomain(domains.back(), Guest{}));
  }
  for (const std::string& d : domains) {
    CommandResult r = cli({"enable", d, "--size", "64M", "--label", "scratch", "--encrypt"});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }
  std::vector<CommandResult> started(domains.size());
  std::vector<std::thread> starters;
  for (size_t i = 0; i < domains.size(); ++i) {
    starters.emplace_back([&, i] { started[i] = virsh({"start", domains[i]}); });
  }
  for (std::thread& t : starters) t.join();
  for (size_t i = 0; i < domains.size(); ++i) {
    EXPECT_EQ(started[i].exitCode, 0) << domains[i] << ": " << started[i].err;
  }
  for (const std::string& d : domains) {
    EXPECT_TRUE(waitForState(d, "shut off", 120s)) << d << ": " << console();
  }
  for (const std::string& d : domains) {
    std::string seen = d == name() ? console() : readFile(consolePath(d));
    EXPECT_NE(seen.find("VS-MARKER-WRITTEN"), std::string::npos) << d << ": " << seen;
  }
}

}  // namespace
}  // namespace virtscratch::test
