#include "daemon/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/support/shipped_config.h"
#include "tests/support/test_util.h"

namespace virtscratch::daemon {
namespace {

using test::TempDir;

void writeText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(Config, GivesTheDefaultsWhenTheFileIsMissing) {
  TempDir dir;
  auto config = loadConfig(dir.file("virt-scratchd.conf"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolPath, "/var/lib/virt-scratch/pool");
  EXPECT_EQ(config->poolQuota, 0u);
  EXPECT_EQ(config->poolReserve, 0u);  // worked out from the pool's filesystem at start
  EXPECT_EQ(config->poolReservePercent, 5.0);
  EXPECT_EQ(config->templateBudget, uint64_t{2} << 30);  // finite: metadata cannot pin the disk
  EXPECT_EQ(config->maxImageSize, uint64_t{64} << 40);
  EXPECT_EQ(config->disksPerDomain, 16u);
  EXPECT_EQ(config->concurrentExports, 1u);
  EXPECT_EQ(config->queueLimit, 256u);
  EXPECT_EQ(config->templateMode, TemplateMode::kReflink);
  EXPECT_EQ(config->accessGroup, "");  // obsolete: polkit decides
  EXPECT_TRUE(config->contentRoots.empty());
  EXPECT_EQ(config->hookTimeoutMs, 30000u);
  EXPECT_EQ(config->hookFail, HookFailMode::kClosed);
}

TEST(Config, ReadsEveryKey) {
  TempDir dir;
  mkdir(dir.file("content").c_str(), 0755);
  symlink(dir.file("content").c_str(), dir.file("content-link").c_str());
  writeText(dir.file("virt-scratchd.conf"),
            "# comment\n[pool]\npath = /srv/pool/\nquota=10G\nreserve = 1.5G\n"
            "[templates]\nmode=overlay\nbudget=3G\n[access]\ngroup=kvm\n"
            "[limits]\nmax-size=2T\ndisks-per-domain=4\n[jobs]\nexports=3\nqueue=10\n"
            "[content]\nroots=" +
                dir.file("content-link") + ";" + dir.file("content") +
                "/;\n"
                "[libvirt]\nuri=qemu:///system\n[hook]\ntimeout=5s\nfail=open\n");
  auto config = loadConfig(dir.file("virt-scratchd.conf"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolPath, "/srv/pool");
  EXPECT_EQ(config->poolQuota, uint64_t{10} << 30);
  EXPECT_EQ(config->poolReserve, uint64_t{3} << 29);
  EXPECT_LT(config->poolReservePercent, 0);  // given in bytes
  EXPECT_EQ(config->templateMode, TemplateMode::kOverlay);
  EXPECT_EQ(config->templateBudget, uint64_t{3} << 30);
  EXPECT_EQ(config->maxImageSize, uint64_t{2} << 40);
  EXPECT_EQ(config->disksPerDomain, 4u);
  EXPECT_EQ(config->concurrentExports, 3u);
  EXPECT_EQ(config->queueLimit, 10u);
  EXPECT_EQ(config->accessGroup, "kvm");
  std::vector<std::string> roots = {dir.file("content"), dir.file("content")};
  EXPECT_EQ(config->contentRoots, roots);  // canonical: the symlink resolved
  EXPECT_EQ(config->libvirtUri, "qemu:///system");
  EXPECT_EQ(config->hookTimeoutMs, 5000u);
  EXPECT_EQ(config->hookFail, HookFailMode::kOpen);
}

TEST(Config, ReadsThePoolsEncryptionAndNamesAnUnknownOne) {
  TempDir dir;
  std::string file = dir.file("virt-scratchd.conf");
  writeText(file, "[pool]\nencryption = luks\n");
  auto config = loadConfig(file);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolEncryption, image::Encryption::kLuks);
  writeText(file, "[pool]\nencryption = aes\n");
  auto bad = loadConfig(file);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'aes'"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("encryption"), std::string::npos);
}

TEST(Config, ReadsThePoolsDiscardAndNamesAnUnknownValue) {
  TempDir dir;
  std::string file = dir.file("virt-scratchd.conf");
  EXPECT_TRUE(Config().poolDiscard);
  writeText(file, "[pool]\ndiscard = ignore\n");
  auto config = loadConfig(file);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_FALSE(config->poolDiscard);
  writeText(file, "[pool]\ndiscard = off\n");
  auto bad = loadConfig(file);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'off'"), std::string::npos) << bad.status().message();
  EXPECT_NE(bad.status().message().find("discard"), std::string::npos) << bad.status().message();
}

TEST(Config, ReadsTheSharedPoolKeysAndNamesWhatIsWrong) {
  TempDir dir;
  std::string file = dir.file("virt-scratchd.conf");
  EXPECT_FALSE(Config().poolShared);
  writeText(file, "[pool]\nshared = yes\nhost = hv-07.example\n");
  auto config = loadConfig(file);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_TRUE(config->poolShared);
  EXPECT_EQ(config->poolHost, "hv-07.example");
  for (const auto& [text, named] : std::vector<std::pair<std::string, std::string>>{
           {"[pool]\nshared = maybe\n", "'maybe'"},
           {"[pool]\nhost = hv 07\n", "'hv 07'"},
           {"[pool]\nhost = ../etc\n", "'../etc'"},
           {"[pool]\nshared = yes\n[templates]\nmode = overlay\n", "mode = overlay"}}) {
    writeText(file, text);
    auto bad = loadConfig(file);
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_NE(bad.status().message().find(named), std::string::npos) << bad.status().message();
  }
}

TEST(Config, ReadsTheSpaceAccountingKeys) {
  TempDir dir;
  std::string file = dir.file("virt-scratchd.conf");
  writeText(file,
            "[pool]\nquota-allocated = 2G\nhigh-water = 70%\nrefresh = 60\n"
            "[metrics]\ntextfile = /var/lib/prometheus/node-exporter/virt-scratch.prom\n");
  auto config = loadConfig(file);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolQuotaAllocated, uint64_t{2} << 30);
  EXPECT_EQ(config->poolHighWater, 0u);
  EXPECT_EQ(config->poolHighWaterPercent, 70);
  EXPECT_EQ(config->refreshSeconds, 60u);
  EXPECT_EQ(config->metricsTextfile, "/var/lib/prometheus/node-exporter/virt-scratch.prom");
  writeText(file, "[pool]\nhigh-water = 512M\n");
  config = loadConfig(file);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolHighWater, uint64_t{512} << 20);
  EXPECT_LT(config->poolHighWaterPercent, 0);
}

TEST(Config, NamesABadRefreshOrMetricsFile) {
  TempDir dir;
  std::string file = dir.file("virt-scratchd.conf");
  for (const char* bad :
       {"[pool]\nrefresh = 0\n", "[pool]\nrefresh = 1s\n", "[metrics]\ntextfile = relative.prom\n",
        "[metrics]\ntextfile = /var/lib/node/virt-scratch.txt\n", "[pool]\nhigh-water = 100%\n",
        "[pool]\nquota-allocated = lots\n"}) {
    writeText(file, bad);
    auto config = loadConfig(file);
    ASSERT_FALSE(config.ok()) << bad;
    std::string line(bad);
    std::string key =
        line.substr(line.find('\n') + 1, line.find(' ', line.find('\n')) - line.find('\n') - 1);
    EXPECT_NE(config.status().message().find(key), std::string::npos) << config.status().message();
  }
}

TEST(Config, TakesZeroAndNoneAsNoLimitAndMillisecondTimeouts) {
  TempDir dir;
  writeText(dir.file("a.conf"), "[pool]\nquota=none\nreserve=0\n[hook]\ntimeout=250ms\n");
  auto config = loadConfig(dir.file("a.conf"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolQuota, 0u);
  EXPECT_EQ(config->poolReserve, 0u);
  EXPECT_LT(config->poolReservePercent, 0);
  EXPECT_EQ(config->hookTimeoutMs, 250u);
  writeText(dir.file("b.conf"), "[hook]\ntimeout=1500\n");
  EXPECT_EQ(loadConfig(dir.file("b.conf"))->hookTimeoutMs, 1500u);
}

TEST(Config, TakesTheReserveAsAPercentageOfThePoolsFilesystem) {
  TempDir dir;
  writeText(dir.file("a.conf"), "[pool]\nreserve=1G\n[templates]\nbudget=none\n");
  mkdir(dir.file("a.conf.d").c_str(), 0755);
  writeText(dir.file("a.conf.d/10.conf"), "[pool]\nreserve = 2.5%\n");
  auto config = loadConfig(dir.file("a.conf"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolReservePercent, 2.5);  // the later file wins, percentage over bytes
  EXPECT_EQ(config->poolReserve, 0u);
  EXPECT_EQ(config->templateBudget, 0u);
  writeText(dir.file("b.conf"), "[pool]\nreserve=0%\n");
  EXPECT_EQ(loadConfig(dir.file("b.conf"))->poolReservePercent, 0.0);
}

TEST(Config, AppliesDropInsInNameOrderAfterTheMainFile) {
  TempDir dir;
  std::string main = dir.file("virt-scratchd.conf");
  writeText(main, "[pool]\nquota=1G\nreserve=1M\n");
  mkdir((main + ".d").c_str(), 0755);
  writeText(main + ".d/20-b.conf", "[pool]\nquota=3G\n");
  writeText(main + ".d/10-a.conf", "[pool]\nquota=2G\n[access]\ngroup=kvm\n");
  writeText(main + ".d/30-ignored.conf.bak", "[pool]\nquota=lots\n");
  auto config = loadConfig(main);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->poolQuota, uint64_t{3} << 30);
  EXPECT_EQ(config->poolReserve, uint64_t{1} << 20);
  EXPECT_EQ(config->accessGroup, "kvm");
}

TEST(Config, ReadsDropInsEvenWithoutAMainFile) {
  TempDir dir;
  std::string main = dir.file("virt-scratchd.conf");
  mkdir((main + ".d").c_str(), 0755);
  writeText(main + ".d/a.conf", "[templates]\nmode=off\n");
  auto config = loadConfig(main);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->templateMode, TemplateMode::kOff);
}

struct BadKey {
  std::string text;
  std::string expected;  // after "<file>:"
};

class ConfigErrors : public ::testing::TestWithParam<BadKey> {};

TEST_P(ConfigErrors, NameTheFileLineAndKey) {
  TempDir dir;
  std::string file = dir.file("virt-scratchd.conf");
  writeText(file, GetParam().text);
  auto config = loadConfig(file);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(config.status().message().rfind(file + ":" + GetParam().expected, 0), 0u)
      << config.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    EveryKey, ConfigErrors,
    ::testing::Values(
        BadKey{"[pool]\npath=/x\nquota=lots\n", "3: [pool] quota: invalid size 'lots'"},
        BadKey{"[pool]\npath=relative\n", "2: [pool] path: 'relative' is not an absolute path"},
        BadKey{"[pool]\npath=/\n", "2: [pool] path: '/' is the root directory"},
        BadKey{"# c\n[pool]\n\nreserve = -1G\n", "4: [pool] reserve: invalid size '-1G'"},
        BadKey{"[templates]\nmode=fast\n", "2: [templates] mode: unknown mode 'fast'"},
        BadKey{"[templates]\nbudget=1Q\n", "2: [templates] budget: invalid size '1Q'"},
        BadKey{"[pool]\nreserve=100%\n", "2: [pool] reserve: invalid percentage '100%'"},
        BadKey{"[pool]\nreserve=-5%\n", "2: [pool] reserve: invalid percentage '-5%'"},
        BadKey{"[pool]\nreserve=%\n", "2: [pool] reserve: invalid percentage '%'"},
        BadKey{"[pool]\nreserve=5%%\n", "2: [pool] reserve: invalid percentage '5%%'"},
        BadKey{"[pool]\nreserve=1e1%\n", "2: [pool] reserve: invalid percentage '1e1%'"},
        BadKey{"[limits]\nmax-size=65T\n", "2: [limits] max-size: size '65T' is above the max"},
        BadKey{"[limits]\nmax-size=0\n", "2: [limits] max-size: invalid size '0'"},
        BadKey{"[limits]\nmax-size=big\n", "2: [limits] max-size: invalid size 'big'"},
        BadKey{"[limits]\ndisks-per-domain=0\n", "2: [limits] disks-per-domain: invalid count '0'"},
        BadKey{"[limits]\ndisks-per-domain=1025\n",
               "2: [limits] disks-per-domain: invalid count '1025'"},
        BadKey{"[jobs]\nexports=0\n", "2: [jobs] exports: invalid count '0'"},
        BadKey{"[jobs]\nexports=65\n", "2: [jobs] exports: invalid count '65'"},
        BadKey{"[jobs]\nqueue=many\n", "2: [jobs] queue: invalid count 'many'"},
        BadKey{"[limits]\ndisks-per-domain=-1\n",
               "2: [limits] disks-per-domain: invalid count '-1'"},
        BadKey{"[limits]\ndisks-per-domain=8 disks\n",
               "2: [limits] disks-per-domain: invalid count '8 disks'"},
        BadKey{"[limits]\ndisks=8\n", "2: [limits] disks: unknown key"},
        BadKey{"[access]\ngroup=bad name\n", "2: [access] group: 'bad name' is not a group"},
        BadKey{"[content]\nroots=/\n", "2: [content] roots: '/' is the root directory"},
        BadKey{"[content]\nroots=srv/content\n", "2: [content] roots: 'srv/content' is not an"},
        BadKey{"[content]\nroots=/no/such/dir\n", "2: [content] roots: content root '/no/such"},
        BadKey{"[hook]\ntimeout=soon\n", "2: [hook] timeout: invalid timeout 'soon'"},
        BadKey{"[hook]\ntimeout=0\n", "2: [hook] timeout: invalid timeout '0'"},
        BadKey{"[hook]\ntimeout=11m\n", "2: [hook] timeout: invalid timeout '11m'"},
        BadKey{"[hook]\nfail=maybe\n", "2: [hook] fail: unknown mode 'maybe'"},
        BadKey{"[pool]\n\n# size is not a key\nsize=1G\n", "4: [pool] size: unknown key"},
        BadKey{"[pool]\npath=/x\n[extra]\nk=v\n", "3: unknown group [extra]"},
        BadKey{"[pool]\nquota=1G\n[hook]\nfail=open\n[pool]\nquota=2X\n",
               "6: [pool] quota: invalid size '2X'"}));

TEST(Config, NamesTheDropInThatIsWrong) {
  TempDir dir;
  std::string main = dir.file("virt-scratchd.conf");
  writeText(main, "[pool]\nquota=1G\n");
  mkdir((main + ".d").c_str(), 0755);
  writeText(main + ".d/10-a.conf", "[pool]\nquota=2G\n");
  writeText(main + ".d/20-b.conf", "\n[libvirt]\nuri=qemu:///system\nurl=typo\n");
  auto config = loadConfig(main);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind(main + ".d/20-b.conf:4: [libvirt] url: unknown key", 0),
            0u)
      << config.status().message();
}

TEST(Config, RejectsAFileGKeyFileCannotParse) {
  TempDir dir;
  std::string file = dir.file("virt-scratchd.conf");
  writeText(file, "[pool]\nquota=1G\nthis line has no equals sign\n");
  auto config = loadConfig(file);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().rfind(file + ":3: ", 0), 0u) << config.status().message();
}

TEST(Config, FailsWhenTheMainFileIsNotAFile) {
  TempDir dir;
  auto config = loadConfig(dir.path());
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find(dir.path()), std::string::npos);
}

// The shipped file documents every key with its default, commented out: uncommented, it must
// load and give exactly the built-in defaults.
TEST(Config, ShippedFileStatesTheTrueDefaults) {
  std::string shipped = std::string(VIRTSCRATCH_SOURCE_DIR) + "/conf/virt-scratchd.conf";
  auto asShipped = loadConfig(shipped);
  ASSERT_TRUE(asShipped.ok()) << asShipped.status().message();
  int uncommented = 0;
  std::string text = test::uncommentedConfig(shipped, &uncommented);
  EXPECT_EQ(uncommented, 21);
  TempDir dir;
  writeText(dir.file("virt-scratchd.conf"), text);
  auto config = loadConfig(dir.file("virt-scratchd.conf"));
  ASSERT_TRUE(config.ok()) << config.status().message();
  Config defaults;
  EXPECT_EQ(config->poolPath, defaults.poolPath);
  EXPECT_EQ(config->poolQuota, defaults.poolQuota);
  EXPECT_EQ(config->poolEncryption, defaults.poolEncryption);
  EXPECT_EQ(config->poolDiscard, defaults.poolDiscard);
  EXPECT_EQ(config->poolReserve, defaults.poolReserve);
  EXPECT_EQ(config->poolReservePercent, defaults.poolReservePercent);
  EXPECT_EQ(config->poolQuotaAllocated, defaults.poolQuotaAllocated);
  EXPECT_EQ(config->poolHighWater, defaults.poolHighWater);
  EXPECT_EQ(config->poolHighWaterPercent, defaults.poolHighWaterPercent);
  EXPECT_EQ(config->refreshSeconds, defaults.refreshSeconds);
  EXPECT_EQ(config->poolShared, defaults.poolShared);
  EXPECT_EQ(config->poolHost, defaults.poolHost);
  EXPECT_EQ(config->metricsTextfile, defaults.metricsTextfile);
  EXPECT_EQ(config->maxImageSize, defaults.maxImageSize);
  EXPECT_EQ(config->disksPerDomain, defaults.disksPerDomain);
  EXPECT_EQ(config->concurrentExports, defaults.concurrentExports);
  EXPECT_EQ(config->queueLimit, defaults.queueLimit);
  EXPECT_EQ(config->templateMode, defaults.templateMode);
  EXPECT_EQ(config->templateBudget, defaults.templateBudget);
  EXPECT_EQ(config->accessGroup, defaults.accessGroup);
  EXPECT_EQ(config->contentRoots, defaults.contentRoots);
  EXPECT_EQ(config->libvirtUri, defaults.libvirtUri);
  EXPECT_EQ(config->hookTimeoutMs, defaults.hookTimeoutMs);
  EXPECT_EQ(config->hookFail, defaults.hookFail);
}

// Installed as it ships, with its drop-in directory, the daemon follows the host's QEMU domains.
TEST(Config, ShippedDropInFollowsTheHostsQemuDomains) {
  auto config = loadConfig(std::string(VIRTSCRATCH_SOURCE_DIR) + "/conf/virt-scratchd.conf");
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->libvirtUri, "qemu:///system");
  EXPECT_EQ(Config().libvirtUri, "");
}

TEST(ConfigReload, NamesOnlyTheChangedKeysThatNeedARestart) {
  Config running;
  Config next = running;
  next.poolQuota = uint64_t{1} << 30;
  next.maxImageSize = uint64_t{1} << 40;
  next.disksPerDomain = 4;
  next.contentRoots = {"/srv"};
  next.concurrentExports = 2;
  next.hookTimeoutMs = 1000;
  EXPECT_TRUE(keysNeedingRestart(running, next).empty());
  next.poolPath = "/srv/pool";
  next.templateMode = TemplateMode::kOff;
  next.templateBudget = 0;
  next.libvirtUri = "qemu:///system";
  next.queueLimit = 8;
  EXPECT_EQ(keysNeedingRestart(running, next),
            (std::vector<std::string>{"[pool] path", "[templates] mode", "[templates] budget",
                                      "[libvirt] uri", "[jobs] queue"}));
}

}  // namespace
}  // namespace virtscratch::daemon
