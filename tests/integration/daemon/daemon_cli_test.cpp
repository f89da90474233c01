// The virt-scratch client commands against the real daemon, as root and as another user.
#include "tests/integration/daemon/daemon_fixture.h"
#include "tests/support/json_value.h"

namespace virtscratch::test {
namespace {

using DaemonCli = DaemonTest;

TEST_F(DaemonCli, AllocatesListsShowsAndReleases) {
  startDaemon();
  auto made = cli({"allocate", kDomainA, "--size", "1G", "--format", "raw", "--filesystem", "xfs",
                   "--label", "cli", "--target", "vdc", "--lifetime", "domain"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  std::string file = poolPath() + "/" + kDomainA + "/vdc.raw";
  EXPECT_EQ(made.out, file + "\n");
  auto blkid = parseExport(run({"blkid", "-p", "-o", "export", file}).out);
  EXPECT_EQ(blkid["TYPE"], "xfs");
  EXPECT_EQ(blkid["LABEL"], "cli");

  auto list = cli({"list", "--json"});
  ASSERT_EQ(list.exitCode, 0) << list.err;
  auto images = Json::parse(list.out);
  ASSERT_EQ(images.array().size(), 1u);
  std::string id = images[0]["id"].str();
  EXPECT_EQ(images[0]["path"].str(), file);
  EXPECT_EQ(images[0]["domain"].str(), kDomainA);
  EXPECT_EQ(images[0]["lifetime"].str(), "domain");
  EXPECT_EQ(images[0]["virtual-size"].u64(), uint64_t{1} << 30);
  EXPECT_EQ(images[0]["filesystem-uuid"].str(), blkid["UUID"]);

  auto table = cli({"list"});
  EXPECT_NE(table.out.find(id), std::string::npos) << table.out;
  auto show = cli({"show", "--json", id});
  ASSERT_EQ(show.exitCode, 0) << show.err;
  EXPECT_EQ(Json::parse(show.out)["label"].str(), "cli");
  auto status = cli({"status", "--json"});
  ASSERT_EQ(status.exitCode, 0) << status.err;
  EXPECT_EQ(Json::parse(status.out)["images"].u64(), 1u);
  EXPECT_EQ(Json::parse(status.out)["pool"].str(), poolPath());

  auto released = cli({"release", id});
  EXPECT_EQ(released.exitCode, 0) << released.err;
  EXPECT_FALSE(fileExists(file));
  auto missing = cli({"show", id});
  EXPECT_EQ(missing.exitCode, 1);
}

TEST_F(DaemonCli, ReleasesEveryImageOfADomain) {
  startDaemon();
  ASSERT_EQ(cli({"allocate", kDomainA, "--size", "1G"}).exitCode, 0);
  ASSERT_EQ(cli({"allocate", kDomainA, "--size", "1G", "--target", "vdc"}).exitCode, 0);
  auto released = cli({"release", kDomainA});
  EXPECT_EQ(released.exitCode, 0) << released.err;
  EXPECT_EQ(released.out, "released 2 images of " + std::string(kDomainA) + "\n");
  EXPECT_EQ(Json::parse(cli({"list", "--json"}).out).array().size(), 0u);
}

TEST_F(DaemonCli, SizePerVcpuMultipliesByTheVcpuCount) {
  startDaemon();
  auto made = cli({"allocate", kDomainA, "--size-per-vcpu", "1G", "--vcpus", "3", "--json"});
  ASSERT_EQ(made.exitCode, 0) << made.err;
  EXPECT_EQ(Json::parse(made.out)["virtual-size"].u64(), uint64_t{3} << 30);
}

TEST_F(DaemonCli, PrintsTheDaemonsErrorMessage) {
  startDaemon({.quota = "1G"});
  auto over = cli({"allocate", kDomainA, "--size", "2G"});
  EXPECT_EQ(over.exitCode, 1);
  EXPECT_NE(over.err.find("quota"), std::string::npos) << over.err;
  auto unknown = cli({"allocate", kDomainA, "--size", "1G", "--filesystem", "ntfs"});
  EXPECT_EQ(unknown.exitCode, 1);
  EXPECT_NE(unknown.err.find("ntfs"), std::string::npos) << unknown.err;
}

TEST_F(DaemonCli, SaysWhenTheDaemonIsNotRunning) {
  auto result = cli({"list"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_NE(result.err.find("virt-scratchd is not running"), std::string::npos) << result.err;
}

TEST_F(DaemonCli, DeniesChangesToOtherUsersButLetsThemRead) {
  startDaemon();  // no polkitd runs: only root may change
  ASSERT_EQ(cli({"allocate", kDomainA, "--size", "1G"}).exitCode, 0);
  auto denied = cli({"allocate", kDomainB, "--size", "1G"}, /*asNobody=*/true);
  EXPECT_EQ(denied.exitCode, 1);
  EXPECT_NE(denied.err.find("uid 65534"), std::string::npos) << denied.err;
  auto release = cli({"release", kDomainA}, true);
  EXPECT_EQ(release.exitCode, 1) << release.out;
  auto list = cli({"list", "--json"}, true);
  ASSERT_EQ(list.exitCode, 0) << list.err;
  EXPECT_EQ(Json::parse(list.out).array().size(), 1u);
  EXPECT_FALSE(fileExists(poolPath() + "/" + kDomainB));
}

TEST_F(DaemonCli, StartsWithTheObsoleteAccessGroupAndWarnsThatPolkitDecides) {
  startDaemon({.group = "nogroup"});
  EXPECT_NE(daemonLog().find("[access] group = nogroup is ignored: polkit decides"),
            std::string::npos)
      << daemonLog();
  auto denied = cli({"allocate", kDomainB, "--size", "1G"}, /*asNobody=*/true);
  EXPECT_EQ(denied.exitCode, 1);
  EXPECT_NE(denied.err.find("polkit is not running"), std::string::npos) << denied.err;
  EXPECT_FALSE(fileExists(poolPath() + "/" + kDomainB));
}

}  // namespace
}  // namespace virtscratch::test
