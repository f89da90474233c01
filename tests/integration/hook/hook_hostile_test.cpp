// virt-scratch-hook fed hostile domain definitions, arguments and configurations, run as libvirt
// runs it against the real virt-scratchd: each fails with its exit status and one line naming
// the bad value, the pool stays empty, nothing is read or written through entities or paths, and
// the daemon goes on serving. One daemon serves the whole table.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/daemon/daemon_fixture.h"

namespace virtscratch::test {
namespace {

constexpr char kNamespace[] = "http://virtscratch.org/xmlns/scratch/1.0";

size_t lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// A definition as libvirt passes it; `disks` goes inside <scratch:disks>, `extra` inside
// <domain> after the metadata.
std::string domainXml(const std::string& disks, const std::string& extra = "",
                      const std::string& uuid = kDomainA) {
  return "<domain type='qemu'>\n  <name>vm-hostile</name>\n  <uuid>" + uuid +
         "</uuid>\n  <metadata>\n    <scratch:disks xmlns:scratch='" + kNamespace + "'>" + disks +
         "</scratch:disks>\n  </metadata>\n  <vcpu>2</vcpu>\n" + extra + "</domain>\n";
}

std::string disk(const std::string& attributes) { return "<scratch:disk " + attributes + "/>"; }

std::string nested(int depth) {
  std::string open, close;
  for (int i = 0; i < depth; ++i) {
    open += "<n>";
    close += "</n>";
  }
  return "<description>" + open + close + "</description>\n";
}

struct BadXml {
  std::string what;
  std::string xml;
  std::string names;  // in the one line on stderr
};

std::vector<BadXml> badDefinitions(const std::string& secret) {
  const std::string ok = disk("target='vdb' size='1G'");
  const std::string ns = std::string("xmlns:scratch='") + kNamespace + "'";
  const std::string huge(3 << 20, 'L');
  std::string many;
  for (int i = 0; i < 100001; ++i) many += "<e/>";
  return {
      // Entities and DTDs: refused before anything is expanded or read.
      {"the billion laughs",
       "<?xml version='1.0'?>\n<!DOCTYPE domain [<!ENTITY a 'ha'><!ENTITY b '&a;&a;&a;&a;&a;"
       "&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]>\n" +
           domainXml(disk("target='vdb' size='1G' label='&c;'")),
       "<!DOCTYPE>"},
      {"an external entity reading a file",
       "<!DOCTYPE domain [<!ENTITY x SYSTEM 'file://" + secret + "'>]>\n" +
           domainXml(disk("target='vdb' size='1G' label='&x;'")),
       "<!DOCTYPE>"},
      {"an external parameter entity",
       "<!DOCTYPE domain [<!ENTITY % p SYSTEM 'file://" + secret + "'> %p;]>\n" + domainXml(ok),
       "<!DOCTYPE>"},
      {"an external DTD",
       "<!DOCTYPE domain SYSTEM 'http://example.invalid/x.dtd'>\n" + domainXml(ok), "<!DOCTYPE>"},
      {"an undeclared entity", domainXml(disk("target='vdb' size='1G' label='&secret;'")),
       "secret"},
      {"an XInclude of a file",
       domainXml(ok + "<xi:include xmlns:xi='http://www.w3.org/2001/XInclude' href='" + secret +
                 "'/>"),
       "xi:include"},
      // Nesting and size.
      {"65 levels of nesting", domainXml(ok, nested(64)), "deeper than 64"},
      {"100000 levels of nesting", domainXml(ok, nested(100000)), "deeper than 64"},
      {"100001 elements", domainXml(ok, "<description>" + many + "</description>\n"),
       "more than 100000"},
      {"a label of 3 MiB", domainXml(disk("target='vdb' size='1G' label='" + huge + "'")),
       "LLLLLLLL"},
      {"a target of 3 MiB", domainXml(disk("target='" + huge + "' size='1G'")), "target='LLLL"},
      // Duplicates.
      {"two disks with one target", domainXml(ok + disk("target='vdb' size='2G'")),
       "two scratch disks have target='vdb'"},
      {"a default target given again", domainXml(disk("size='1G'") + ok), "target='vdb'"},
      {"two disks elements", domainXml(ok + "</scratch:disks><scratch:disks " + ns + ">" + ok),
       "more than one <scratch:disks>"},
      {"two metadata elements",
       domainXml("", "<metadata><scratch:disks " + ns + ">" + ok + "</scratch:disks></metadata>\n"),
       "more than one <metadata>"},
      {"two uuid elements", domainXml(ok, "<uuid>" + std::string(kDomainB) + "</uuid>\n"),
       "more than one <uuid>"},
      {"two name elements", domainXml(ok, "<name>other</name>\n"), "more than one <name>"},
      {"two vcpu elements", domainXml(ok, "<vcpu>64</vcpu>\n"), "more than one <vcpu>"},
      // Unknown attributes, elements and text.
      {"a path attribute", domainXml(disk("target='vdb' size='1G' path='/etc/passwd'")),
       "path='/etc/passwd'"},
      {"a source attribute", domainXml(disk("target='vdb' size='1G' source='" + secret + "'")),
       "source='"},
      {"an attribute in another namespace",
       domainXml(disk("target='vdb' size='1G' xmlns:x='urn:x' x:pool='/tmp'")), "x:pool='/tmp'"},
      {"an attribute on the disks element",
       "<domain><name>v</name><uuid>" + std::string(kDomainA) + "</uuid><metadata><scratch:disks " +
           ns + " pool='/etc'>" + ok + "</scratch:disks></metadata></domain>",
       "pool='/etc'"},
      {"another element among the disks", domainXml(ok + "<scratch:file path='/etc'/>"),
       "<scratch:file>"},
      {"text among the disks", domainXml(ok + "/etc/passwd"), "holds text"},
      {"CDATA among the disks", domainXml(ok + "<![CDATA[/etc/shadow]]>"), "holds text"},
      {"another element of the namespace in metadata",
       "<domain><name>v</name><uuid>" + std::string(kDomainA) + "</uuid><metadata><scratch:pool " +
           ns + "/></metadata></domain>",
       "knows only <disks>"},
      // Targets: they name files in the pool.
      {"a traversal as target", domainXml(disk("target='../../etc' size='1G'")),
       "target='../../etc'"},
      {"an absolute path as target", domainXml(disk("target='/etc/passwd' size='1G'")),
       "target='/etc/passwd'"},
      {"an empty target", domainXml(disk("target='' size='1G'")), "target=''"},
      {"a target of 17 letters", domainXml(disk("target='vdbbbbbbbbbbbbbbb' size='1G'")),
       "vdbbbbbbbbbbbbbbb"},
      {"a target with a newline", domainXml(disk("target='vdb&#10;' size='1G'")), "target='vdb"},
      {"a target naming an image file", domainXml(disk("target='vdb.qcow2' size='1G'")),
       "'vdb.qcow2'"},
      {"a target in capitals", domainXml(disk("target='VDB' size='1G'")), "'VDB'"},
      // Sizes at and past every limit.
      {"a size of zero", domainXml(disk("size='0'")), "size='0'"},
      {"a negative size", domainXml(disk("size='-1G'")), "size='-1G'"},
      {"a size in exponent notation", domainXml(disk("size='1e9'")), "size='1e9'"},
      {"a size of 2^64", domainXml(disk("size='18446744073709551616'")), "18446744073709551616"},
      {"a size past the maximum", domainXml(disk("size='65T'")), "size='65T'"},
      {"a size with a two-letter unit", domainXml(disk("size='10GB'")), "size='10GB'"},
      {"an empty size", domainXml(disk("size=''")), "size=''"},
      {"a size with a leading blank", domainXml(disk("size=' 1G'")), "size=' 1G'"},
      {"a size in hexadecimal", domainXml(disk("size='0x40000000'")), "'0x40000000'"},
      {"both size and size-per-vcpu", domainXml(disk("size='1G' size-per-vcpu='1G'")),
       "both size and size-per-vcpu"},
      {"neither size nor size-per-vcpu", domainXml(disk("target='vdc'")),
       "neither size nor size-per-vcpu"},
      {"size-per-vcpu past the maximum on 65 vCPUs",
       domainXml(disk("size-per-vcpu='1T'"))
           .replace(domainXml(disk("size-per-vcpu='1T'")).find("<vcpu>2"), 7, "<vcpu>65"),
       "the limit [limits] max-size"},
      // Unknown enum values.
      {"an unknown format", domainXml(disk("size='1G' format='QCOW2'")), "format='QCOW2'"},
      {"an unknown filesystem", domainXml(disk("size='1G' filesystem='ntfs'")),
       "filesystem='ntfs'"},
      {"an unknown partition table", domainXml(disk("size='1G' partition='dos'")),
       "partition='dos'"},
      {"an unknown lifetime", domainXml(disk("size='1G' lifetime='forever'")),
       "lifetime='forever'"},
      {"an unknown attach", domainXml(disk("size='1G' attach='later'")), "attach='later'"},
      {"a label too long for ext4", domainXml(disk("size='1G' label='seventeen-chars-x'")),
       "seventeen-chars-x"},
      {"a label with a tab", domainXml(disk("size='1G' label='a&#9;b'")), "label="},
      // The domain itself.
      {"no vCPUs", domainXml(ok).replace(domainXml(ok).find("<vcpu>2"), 7, "<vcpu>0"),
       "<vcpu>0</vcpu>"},
      {"a negative vCPU count", domainXml(ok).replace(domainXml(ok).find("<vcpu>2"), 7, "<vcpu>-1"),
       "<vcpu>-1</vcpu>"},
      {"a vCPU count past 32 bits",
       domainXml(ok).replace(domainXml(ok).find("<vcpu>2"), 7, "<vcpu>99999999999"), "99999999999"},
      {"a path as the UUID", domainXml(ok, "", "../../etc/passwd"),
       "<uuid>../../etc/passwd</uuid>"},
      {"a UUID one digit short", domainXml(ok, "", std::string(kDomainA).substr(1)),
       "which is not a UUID"},
      {"no UUID",
       "<domain><name>v</name><metadata><scratch:disks " + ns + ">" + ok +
           "</scratch:disks></metadata></domain>",
       "has no <uuid>"},
      {"no name",
       "<domain><uuid>" + std::string(kDomainA) + "</uuid><metadata><scratch:disks " + ns + ">" +
           ok + "</scratch:disks></metadata></domain>",
       "has no <name>"},
      {"another root element", "<network><name>n</name></network>", "<network>, not <domain>"},
      // Not XML.
      {"an unclosed element", domainXml(ok).substr(0, 200), "not valid XML"},
      {"nothing at all", "", "domain"},
      {"bytes that are not UTF-8", domainXml(ok).insert(30, "\xff\xfe"), "not valid XML"},
      {"a NUL byte", std::string("<domain>\0</domain>", 18), "domain"},
      {"a stray ampersand", domainXml(disk("size='1G' label='a&b'")), "not valid XML"},
  };
}

class HookHostile : public DaemonTest {
 protected:
  void SetUp() override {
    DaemonTest::SetUp();
    signal(SIGPIPE, SIG_IGN);
    if (!dir_) return;
    secret_ = dir_->file("secret");
    writeFileAt(secret_, 0, "SECRET-CONTENT");
    writeConfig("[hook]\nfail=closed\ntimeout=30s\n");
  }

  void writeConfig(const std::string& text) {
    std::ofstream(dir_->file("hook.conf"), std::ios::trunc) << text;
  }

  CommandResult hook(const std::vector<std::string>& args, const std::string& xml,
                     const std::string& config = "") {
    std::vector<std::string> argv = {
        "env", "VIRT_SCRATCH_CONFIG=" + (config.empty() ? dir_->file("hook.conf") : config),
        VIRT_SCRATCH_HOOK_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    return runWithInput(argv, xml);
  }

  // Exit status `exitCode`, exactly one line on stderr, holding `names` and nothing secret.
  void expectRefused(const CommandResult& r, int exitCode, const std::string& names) {
    EXPECT_EQ(r.exitCode, exitCode) << r.err.substr(0, 600);
    EXPECT_EQ(lines(r.err), 1u) << r.err.substr(0, 600);
    EXPECT_NE(r.err.find(names), std::string::npos) << r.err.substr(0, 600);
    EXPECT_EQ(r.err.find("SECRET-CONTENT"), std::string::npos);
    EXPECT_LT(r.err.size(), 4000u) << "a line too long for libvirt's log";
    EXPECT_EQ(r.out, "");
  }

  std::string secret_;
};

TEST_F(HookHostile, RefusesEveryHostileDefinitionWithOneLineAndMakesNothing) {
  startDaemon();
  int count = 0;
  for (const BadXml& bad : badDefinitions(secret_)) {
    SCOPED_TRACE(bad.what);
    for (const char* op : {"prepare", "release"}) {
      // Release reads the same definition; its failures are only about the definition itself.
      if (std::string(op) == "release" && count % 4 != 0) continue;
      auto result =
          hook({"vm-hostile", op, op == std::string("prepare") ? "begin" : "end", "-"}, bad.xml);
      if (std::string(op) == "release" && result.exitCode == 0) continue;  // a daemon check
      expectRefused(result, 1, bad.names);
    }
    ++count;
  }
  std::printf("[ hostile  ] hook definitions: %d cases\n", count);
  EXPECT_GE(count, 60);
  EXPECT_EQ(poolFiles(), std::vector<std::string>{}) << "the pool holds files after bad metadata";
  EXPECT_EQ(readFile(secret_), "SECRET-CONTENT");
  EXPECT_TRUE(nameHasOwner());
  // Still serving: a good definition makes its disk.
  auto good = hook({"vm-hostile", "prepare", "begin", "-"},
                   domainXml(disk("target='vdb' size='1G' format='raw'")));
  EXPECT_EQ(good.exitCode, 0) << good.err;
  EXPECT_TRUE(fileExists(poolPath() + "/" + kDomainA + "/vdb.raw"));
}

TEST_F(HookHostile, RefusesHostileArgumentsAndConfigurations) {
  startDaemon();
  const std::string xml = domainXml(disk("target='vdb' size='1G'"));
  int count = 0;
  // Too few arguments: a usage error, whatever stdin holds.
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {}, {"vm"}, {"vm", "prepare"}, {"../../etc/passwd", "prepare"}}) {
    SCOPED_TRACE(args.size());
    expectRefused(hook(args, xml), 2, "usage: virt-scratch DOMAIN OPERATION SUB-OPERATION");
    ++count;
  }
  // The domain's name as libvirt gives it, hostile: one line, cut to a readable length.
  std::string bad = domainXml(disk("target='../x' size='1G'"));
  expectRefused(hook({"vm\n\x1b[2Jforged line", "prepare", "begin", "-"}, bad), 1,
                "vm  [2Jforged line");
  expectRefused(hook({std::string(100000, 'n'), "prepare", "begin", "-"}, bad), 1,
                "bytes left out");
  expectRefused(hook({"vm\xff\xfe", "prepare", "begin", "-"}, bad), 1, "target='../x'");
  count += 3;
  // Configurations that cannot be used: the hook fails closed, naming the file and the line.
  struct Config {
    std::string what, text, names;
  };
  for (const Config& c : std::vector<Config>{
           {"a timeout of zero", "[hook]\ntimeout=0ms\n", "hook.conf:2: [hook] timeout"},
           {"a timeout past the limit", "[hook]\ntimeout=601s\n", "'601s'"},
           {"an unknown failure mode", "[hook]\nfail=sometimes\n", "'sometimes'"},
           {"an unknown group", "[hooks]\nfail=open\n", "unknown group [hooks]"},
           {"a file that is not UTF-8", "[hook]\nfail=\xff\n", "hook.conf:2"},
       }) {
    SCOPED_TRACE(c.what);
    writeConfig(c.text);
    expectRefused(hook({"vm", "prepare", "begin", "-"}, xml), 1, c.names);
    ++count;
  }
  std::string fifo = dir_->file("fifo.conf");
  mkfifo(fifo.c_str(), 0644);
  expectRefused(hook({"vm", "prepare", "begin", "-"}, xml, fifo), 1, "is not a file");
  expectRefused(hook({"vm", "prepare", "begin", "-"}, xml, dir_->path()), 1, "is not a file");
  count += 2;
  std::printf("[ hostile  ] hook arguments and configurations: %d cases\n", count);
  EXPECT_EQ(poolFiles(), std::vector<std::string>{});
  EXPECT_TRUE(nameHasOwner());
}

// A <disk> whose source is somewhere else than the pool image: the hook says so and does not
// touch that file.
TEST_F(HookHostile, NeverUsesADiskSourceOutsideThePool) {
  startDaemon();
  int count = 0;
  for (const std::string& source : {secret_, std::string("../../etc/passwd"),
                                    poolPath() + "/../secret", poolPath() + "/" + kDomainA}) {
    SCOPED_TRACE(source);
    std::string xml = domainXml(disk("target='vdb' size='1G'"),
                                "<devices><disk type='file' device='disk'><source file='" + source +
                                    "'/><target dev='vdb' bus='virtio'/></disk></devices>\n");
    expectRefused(hook({"vm-hostile", "prepare", "begin", "-"}, xml), 1,
                  "uses '" + source + "' but virt-scratchd made the image at");
    ++count;
  }
  EXPECT_EQ(readFile(secret_), "SECRET-CONTENT");
  std::printf("[ hostile  ] hook disk sources: %d cases\n", count);
}

}  // namespace
}  // namespace virtscratch::test
