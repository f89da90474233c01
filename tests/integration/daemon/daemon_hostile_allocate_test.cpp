// Hostile Allocate requests to the real virt-scratchd: every string that could reach a path,
// sizes at and past every limit, unknown enum values and keys, wrong variant types, symlinks in
// the content roots. Each gets its named error and a message naming the bad value; nothing
// appears outside the pool and the daemon goes on serving. One daemon serves the table.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "tests/integration/daemon/daemon_hostile.h"

namespace virtscratch::test {
namespace {

struct BadAllocate {
  std::string what;
  std::string domain;
  Spec spec;
  std::string error;
  std::string names;
};

std::vector<BadAllocate> badAllocates(const std::string& content, const std::string& outside) {
  const Spec ok = {{"size", sdbus::Variant(kGiB)}};
  auto with = [&ok](std::vector<std::pair<std::string, sdbus::Variant>> extra) {
    Spec s = ok;
    for (auto& [k, v] : extra) s[k] = v;
    return s;
  };
  auto one = [&with](const std::string& key, sdbus::Variant v) { return with({{key, v}}); };
  const std::string a = kDomainA;
  const std::string long5000(5000, 'x');
  const std::string inv = "InvalidArgument", nf = "NotFound", denied = "AccessDenied";
  const std::string quota = "QuotaExceeded", maxSize = "the limit [limits] max-size";
  return {
      // The domain: text that is neither a UUID nor a name, and domains that do not exist.
      {"an empty domain", "", ok, inv, "domain is empty"},
      {"a domain of 1025 bytes", std::string(1025, 'd'), ok, inv, "1025 bytes"},
      {"a domain of 5000 bytes", long5000, ok, inv, "5000 bytes"},
      {"a relative path as the domain", "../etc", ok, inv, "'../etc'"},
      {"an absolute path as the domain", "/etc/passwd", ok, inv, "'/etc/passwd'"},
      {"a domain with a slash inside", "vm/../../x", ok, inv, "'vm/../../x'"},
      {"a tab in the domain", "vm\t1", ok, inv, "control character"},
      {"a carriage return in the domain", "vm\r", ok, inv, "control character"},
      {"a DEL in the domain", "vm\x7f", ok, inv, "control character"},
      {"an escape sequence in the domain", "\x1b[31mred", ok, inv, "control character"},
      {"a dot as the domain", ".", ok, nf, "domain '.'"},
      {"two dots as the domain", "..", ok, nf, "domain '..'"},
      {"a UUID in braces", "{" + a + "}", ok, nf, "'{" + a + "}'"},
      {"a UUID without its dashes", "6f2b3c1e0d4a4e5b9c7d1a2b3c4d5e6f", ok, nf, "6f2b3c1e0d4a"},
      {"a UUID one digit short", a.substr(1), ok, nf, "'" + a.substr(1) + "'"},
      {"a UUID one digit long", a + "0", ok, nf, "'" + a + "0'"},
      {"a UUID with a non-hex digit", "6f2b3c1e-0d4a-4e5b-9c7d-1a2b3c4d5e6g", ok, nf, "5e6g'"},
      {"a UUID with a trailing space", a + " ", ok, nf, "'" + a + " '"},
      {"a domain that does not exist", "no-such-vm", ok, nf, "'no-such-vm'"},
      {"a domain of exactly 1024 bytes", std::string(1024, 'n'), ok, nf, "nnnn"},
      {"a right-to-left override in the domain", "\u202egnp.exe", ok, nf, "gnp.exe"},
      // The target: it names the image's files.
      {"an empty target", a, one("target", str("")), inv, "target '' is empty"},
      {"a dot as the target", a, one("target", str(".")), inv, "target '.'"},
      {"two dots as the target", a, one("target", str("..")), inv, "target '..'"},
      {"a traversal as the target", a, one("target", str("../../etc/x")), inv, "'../../etc/x'"},
      {"an absolute path as the target", a, one("target", str("/etc/passwd")), inv, "/etc/passwd"},
      {"a target with a slash at the end", a, one("target", str("vdb/")), inv, "'vdb/'"},
      {"a target naming an image file", a, one("target", str("vdb.qcow2")), inv, "'vdb.qcow2'"},
      {"a target naming a record", a, one("target", str("vdb.record")), inv, "'vdb.record'"},
      {"a target naming the templates", a, one("target", str(".templates")), inv, ".templates"},
      {"a target of 17 letters", a, one("target", str(std::string(17, 'v'))), inv, "vvvvvvvvv"},
      {"a target of 5000 letters", a, one("target", str(long5000)), inv, "xxxxxxxx"},
      {"a target starting with a digit", a, one("target", str("1vdb")), inv, "'1vdb'"},
      {"a target with a dash", a, one("target", str("vd-b")), inv, "'vd-b'"},
      {"a target with an underscore", a, one("target", str("vd_b")), inv, "'vd_b'"},
      {"a target with a space", a, one("target", str("vd b")), inv, "'vd b'"},
      {"a target with a newline", a, one("target", str("vdb\n")), inv, "'vdb?'"},
      {"a target in capitals", a, one("target", str("Vdb")), inv, "'Vdb'"},
      {"a target with a non-ASCII letter", a, one("target", str("vd\xc3\xa9")), inv, "target"},
      // Sizes at and past every limit.
      {"a size of one byte", a, {{"size", sdbus::Variant(uint64_t{1})}}, inv, "1"},
      {"a size of 511 bytes", a, {{"size", sdbus::Variant(uint64_t{511})}}, inv, "511"},
      {"a size one byte past the maximum",
       a,
       {{"size", sdbus::Variant(64 * kTiB + 1)}},
       quota,
       maxSize},
      {"a size of 2^64-1", a, {{"size", sdbus::Variant(UINT64_MAX)}}, quota, maxSize},
      {"a size of 2^63", a, {{"size", sdbus::Variant(uint64_t{1} << 63)}}, quota, maxSize},
      {"size-per-vcpu times vcpus past 64 bits",
       a,
       {{"size-per-vcpu", sdbus::Variant(uint64_t{1} << 63)}, {"vcpus", sdbus::Variant(2u)}},
       inv,
       "does not fit in 64 bits"},
      {"size-per-vcpu times vcpus past the maximum",
       a,
       {{"size-per-vcpu", sdbus::Variant(kTiB)}, {"vcpus", sdbus::Variant(65u)}},
       quota,
       maxSize},
      {"size-per-vcpu with the largest vcpu count",
       a,
       {{"size-per-vcpu", sdbus::Variant(kGiB)}, {"vcpus", sdbus::Variant(UINT32_MAX)}},
       quota,
       maxSize},
      {"size-per-vcpu with zero vcpus",
       a,
       {{"size-per-vcpu", sdbus::Variant(kGiB)}, {"vcpus", sdbus::Variant(0u)}},
       inv,
       "needs vcpus"},
      {"vcpus without any size", a, {{"vcpus", sdbus::Variant(4u)}}, inv, "vcpus 4"},
      {"a zero size-per-vcpu",
       a,
       {{"size-per-vcpu", sdbus::Variant(uint64_t{0})}, {"vcpus", sdbus::Variant(2u)}},
       inv,
       "size-per-vcpu"},
      {"an MBR on 3 TiB",
       a,
       {{"size", sdbus::Variant(3 * kTiB)}, {"partition", str("mbr")}},
       inv,
       "MBR"},
      {"xfs on 100 MiB",
       a,
       {{"size", sdbus::Variant(uint64_t{100} << 20)}, {"filesystem", str("xfs")}},
       inv,
       "xfs"},
      {"a GPT on 1 MiB",
       a,
       {{"size", sdbus::Variant(uint64_t{1} << 20)},
        {"partition", str("gpt")},
        {"filesystem", str("none")}},
       inv,
       "too small"},
      {"metadata preallocation of a raw image", a,
       with({{"format", str("raw")}, {"preallocation", str("metadata")}}), inv, "metadata"},
      {"60 TiB fully preallocated",
       a,
       {{"size", sdbus::Variant(60 * kTiB)}, {"preallocation", str("full")}},
       "NoSpace",
       "60 TiB"},
      {"60 TiB preallocated with fallocate",
       a,
       {{"size", sdbus::Variant(60 * kTiB)}, {"preallocation", str("falloc")}},
       "NoSpace",
       "falloc"},
      // Unknown enum values.
      {"an empty format", a, one("format", str("")), inv, "format"},
      {"a format in capitals", a, one("format", str("RAW")), inv, "'RAW'"},
      {"a format with a trailing space", a, one("format", str("raw ")), inv, "'raw '"},
      {"a format that is a path", a, one("format", str("../raw")), inv, "'../raw'"},
      {"a format of 5000 bytes", a, one("format", str(long5000)), inv, "xxxxxxxx"},
      {"an empty filesystem", a, one("filesystem", str("")), inv, "filesystem"},
      {"a filesystem in capitals", a, one("filesystem", str("EXT4")), inv, "'EXT4'"},
      {"a filesystem with a shell command", a, one("filesystem", str("ext4;reboot")), inv,
       "'ext4;reboot'"},
      {"an empty partition table", a, one("partition", str("")), inv, "partition"},
      {"a partition table named dos", a, one("partition", str("dos")), inv, "'dos'"},
      {"a partition table in capitals", a, one("partition", str("GPT")), inv, "'GPT'"},
      {"an empty preallocation", a, one("preallocation", str("")), inv, "preallocation"},
      {"a preallocation named sparse", a, one("preallocation", str("sparse")), inv, "'sparse'"},
      {"an empty lifetime", a, one("lifetime", str("")), inv, "lifetime"},
      {"a lifetime in capitals", a, one("lifetime", str("BOOT")), inv, "'BOOT'"},
      {"a lifetime that is a path", a, one("lifetime", str("../boot")), inv, "'../boot'"},
      // Labels and filesystem UUIDs.
      {"a label of 5000 bytes", a, one("label", str(long5000)), inv, "xxxxxxxx"},
      {"a label with a newline", a, one("label", str("a\nb")), inv, "label"},
      {"an xfs label of 13 bytes", a,
       with({{"filesystem", str("xfs")}, {"label", str("thirteen-char")}}), inv, "thirteen-char"},
      {"a vfat label of 12 bytes", a,
       with({{"filesystem", str("vfat")}, {"label", str("TWELVECHARSX")}}), inv, "TWELVECHARSX"},
      {"a label without a filesystem", a, with({{"filesystem", str("none")}, {"label", str("x")}}),
       inv, "label"},
      {"a filesystem UUID of 5000 bytes", a, one("uuid", str(long5000)), inv, "xxxxxxxx"},
      {"a path as the filesystem UUID", a, one("uuid", str("../../etc/passwd")), inv,
       "../../etc/passwd"},
      {"a filesystem UUID one digit short", a,
       one("uuid", str("3f1a52a6-1c1b-4c3e-9d59-0a4a2a6f7b1")), inv,
       "3f1a52a6-1c1b-4c3e-9d59-0a4a2a6f7b1"},
      {"a volume id for ext4", a, one("uuid", str("ABCD-1234")), inv, "ABCD-1234"},
      // The content directory: only under a root, never through a symlink out of it.
      {"a relative content directory", a, one("content", str("content/ok")), inv, "content/ok"},
      {"the root directory as content", a, one("content", str("/")), denied, "content '/'"},
      {"/etc as content", a, one("content", str("/etc")), denied, "'/etc'"},
      {"a symlink out of the content root", a, one("content", str(content + "/escape")), denied,
       "resolved to '" + outside + "'"},
      {"a path through a symlink out of the root", a, one("content", str(content + "/escape/.")),
       denied, outside},
      {"dots out of the content root", a, one("content", str(content + "/ok/../../outside")),
       denied, "outside"},
      {"the daemon's working directory as content", a, one("content", str("/proc/self/cwd")),
       denied, "/proc/self/cwd"},
      {"a file as content", a, one("content", str(content + "/file.txt")), inv, "file.txt"},
      {"a FIFO as content", a, one("content", str(content + "/fifo")), inv, "fifo"},
      {"a symlink loop as content", a, one("content", str(content + "/loop")), inv, "loop"},
      {"a missing directory as content", a, one("content", str(content + "/missing")), inv,
       "missing"},
      {"a content path of 5000 bytes", a, one("content", str(content + "/" + long5000)), inv,
       "xxxxxxxx"},
      {"content on a disk without a filesystem", a,
       with({{"content", str(content + "/ok")}, {"filesystem", str("none")}}), inv,
       "needs a filesystem"},
      {"content on swap", a, with({{"content", str(content + "/ok")}, {"filesystem", str("swap")}}),
       inv, "swap"},
      // Wrong variant types.
      {"a size of type x", a, {{"size", sdbus::Variant(int64_t{kGiB})}}, inv, "not 'x'"},
      {"a size of type d", a, {{"size", sdbus::Variant(1e9)}}, inv, "not 'd'"},
      {"a size of type b", a, {{"size", sdbus::Variant(true)}}, inv, "not 'b'"},
      {"a size of type i", a, {{"size", sdbus::Variant(int32_t{-1})}}, inv, "not 'i'"},
      {"a size of type at",
       a,
       {{"size", sdbus::Variant(std::vector<uint64_t>{kGiB, kGiB})}},
       inv,
       "not 'at'"},
      {"a size of type (tt)",
       a,
       {{"size", sdbus::Variant(sdbus::Struct<uint64_t, uint64_t>(kGiB, kGiB))}},
       inv,
       "not '(tt)'"},
      {"vcpus of type i",
       a,
       {{"size-per-vcpu", sdbus::Variant(kGiB)}, {"vcpus", sdbus::Variant(int32_t{-2})}},
       inv,
       "'vcpus'"},
      {"vcpus of type s",
       a,
       {{"size-per-vcpu", sdbus::Variant(kGiB)}, {"vcpus", str("2")}},
       inv,
       "'vcpus'"},
      {"a format of type u", a, one("format", sdbus::Variant(1u)), inv, "'format'"},
      {"a target of type o", a, one("target", sdbus::Variant(sdbus::ObjectPath("/etc/passwd"))),
       inv, "not 'o'"},
      {"a target of type g", a, one("target", sdbus::Variant(sdbus::Signature("s"))), inv,
       "not 'g'"},
      {"a label of type ay", a, one("label", sdbus::Variant(std::vector<uint8_t>{'l', 0xff})), inv,
       "not 'ay'"},
      {"a filesystem UUID of type b", a, one("uuid", sdbus::Variant(false)), inv, "'uuid'"},
      {"content of type as", a,
       one("content", sdbus::Variant(std::vector<std::string>{content + "/ok"})), inv, "not 'as'"},
      {"a lifetime of type a{sv}", a,
       one("lifetime", sdbus::Variant(std::map<std::string, sdbus::Variant>{{"x", str("boot")}})),
       inv, "not 'a{sv}'"},
      {"a filesystem of type d", a, one("filesystem", sdbus::Variant(4.0)), inv, "'filesystem'"},
      {"a partition table of type n", a, one("partition", sdbus::Variant(int16_t{1})), inv,
       "not 'n'"},
      {"a preallocation of type y", a, one("preallocation", sdbus::Variant(uint8_t{1})), inv,
       "not 'y'"},
      {"a size of type av",
       a,
       {{"size", sdbus::Variant(std::vector<sdbus::Variant>{sdbus::Variant(kGiB)})}},
       inv,
       "not 'av'"},
      // Unknown keys.
      {"an empty key", a, one("", str("x")), inv, "unknown spec key ''"},
      {"a key in capitals", a, one("Size", sdbus::Variant(kGiB)), inv, "'Size'"},
      {"a key with a trailing space", a, one("size ", sdbus::Variant(kGiB)), inv, "'size '"},
      {"a key that is a path", a, one("../size", sdbus::Variant(kGiB)), inv, "'../size'"},
      {"a key naming the pool", a, one("path", str("/tmp")), inv, "'path'"},
      {"a key naming a content root", a, one("content-root", str("/")), inv, "'content-root'"},
      {"a key of 5000 bytes", a, one(long5000, str("x")), inv, "xxxxxxxx"},
      {"a key with a newline", a, one("target\n", str("vdc")), inv, "unknown spec key"},
  };
}

TEST_F(DaemonHostile, AllocateRefusesEveryHostileRequestAndCreatesNothing) {
  startDaemon();
  ManagerClient manager(bus());
  auto before = outsideTree();
  for (const BadAllocate& bad : badAllocates(contentPath(), outside_)) {
    expectError(
        bad.what, [&] { allocate(manager, bad.domain, bad.spec); }, bad.error, bad.names);
  }
  std::printf("[ hostile  ] D-Bus Allocate: %d cases\n", cases_);
  EXPECT_GE(cases_, 120);
  EXPECT_EQ(poolFiles(), std::vector<std::string>{}) << "the pool holds files after bad requests";
  EXPECT_TRUE(manager.ListImages().empty());
  EXPECT_EQ(outsideTree(), before) << "something outside the pool changed";
  expectStillServing();
}

}  // namespace
}  // namespace virtscratch::test
