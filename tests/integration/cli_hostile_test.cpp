// virt-scratch's offline commands fed hostile input: sizes at and past every limit, unknown enum
// values and options, outputs that are symlinks, directories or too long, qcow2 files with
// hostile headers, and gzip streams that are truncated, corrupt or followed by garbage. Each
// ends with its exit status and a message naming the bad value; nothing is left behind and no
// symlink is written through. The table runs in one directory, checked after every case.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tests/support/test_util.h"

namespace virtscratch::test {
namespace {

namespace fs = std::filesystem;

const std::string kBin = VIRT_SCRATCH_BIN;

std::string be32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (24 - 8 * i));
  return s;
}

std::string be64(uint64_t v) { return be32(static_cast<uint32_t>(v >> 32)) + be32(v & 0xffffffff); }

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
  return s;
}

uint64_t loadBe64(const std::string& s, size_t at) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(s[at + i]);
  return v;
}

struct Case {
  std::string what;
  std::vector<std::string> args;
  int exitCode;
  std::string names;
  std::string stdinText = "";  // "" runs with stdin from /dev/null
};

class CliHostile : public ::testing::Test {
 protected:
  void SetUp() override {
    // Commands that refuse their input early leave stdin unread.
    signal(SIGPIPE, SIG_IGN);
    root_ = dir_.path();
    outside_ = dir_.file("outside");
    fs::create_directory(outside_);
    writeFileAt(outside_ + "/secret", 0, "the secret");
    // Good inputs to spoil.
    makeSparseFile(file("disk.raw"), 8 << 20);
    std::string data;
    while (data.size() < 200000) data += "scratch line " + std::to_string(data.size()) + "\n";
    writeFileAt(file("disk.raw"), 4096, data);
    ASSERT_EQ(run({"qemu-img", "create", "-q", "-f", "qcow2", file("good.qcow2"), "64M"}).exitCode,
              0);
    ASSERT_EQ(run({"sh", "-c", "gzip -c \"$1\" > \"$2\"", "sh", file("disk.raw"), file("good.gz")})
                  .exitCode,
              0);
    gzip_ = readFile(file("good.gz"));
    qcow2_ = readFile(file("good.qcow2"));
    fs::create_symlink(outside_ + "/secret", file("link-to-secret"));
    fs::create_symlink(outside_ + "/created-through-a-link", file("dangling"));
    fs::create_directory(file("a-directory"));
    mkfifo(file("fifo").c_str(), 0644);
    fs::create_symlink(file("loop"), file("loop"));
  }

  std::string file(const std::string& name) const { return dir_.file(name); }

  // A copy of the good qcow2 image with `bytes` written at `offset`.
  std::string qcow2With(const std::string& name, uint64_t offset, const std::string& bytes) {
    std::string s = qcow2_;
    if (s.size() < offset + bytes.size()) s.resize(offset + bytes.size());
    s.replace(offset, bytes.size(), bytes);
    writeFileAt(file(name), 0, s);
    return file(name);
  }

  std::string gzipFile(const std::string& name, const std::string& bytes) {
    writeFileAt(file(name), 0, bytes);
    return file(name);
  }

  void runCases(const std::string& surface, const std::vector<Case>& cases) {
    for (const Case& c : cases) {
      SCOPED_TRACE(surface + ": " + c.what);
      auto before = treeSnapshot(root_);
      std::vector<std::string> argv = {"timeout", "30", kBin};
      argv.insert(argv.end(), c.args.begin(), c.args.end());
      auto r = c.stdinText.empty() ? run(argv) : runWithInput(argv, c.stdinText);
      EXPECT_EQ(r.exitCode, c.exitCode) << r.err.substr(0, 600);
      EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err.substr(0, 600);
      EXPECT_NE(r.err.find("virt-scratch "), std::string::npos) << r.err.substr(0, 600);
      EXPECT_EQ(treeSnapshot(root_), before)
          << "the command left something behind or changed a file";
      ++count_;
    }
    EXPECT_EQ(readFile(outside_ + "/secret"), "the secret");
    EXPECT_FALSE(fs::exists(outside_ + "/created-through-a-link"));
  }

  TempDir dir_;
  std::string root_, outside_, gzip_, qcow2_;
  int count_ = 0;
};

TEST_F(CliHostile, CreateRefusesHostileSizesNamesAndOutputs) {
  const std::string out = file("new.qcow2");
  auto create = [&](std::vector<std::string> options, const std::string& path) {
    std::vector<std::string> args = {"create"};
    args.insert(args.end(), options.begin(), options.end());
    args.push_back(path);
    return args;
  };
  std::vector<Case> cases = {
      {"a size in exponent notation", create({"--size", "1e9"}, out), 2, "'1e9'"},
      {"a size in hexadecimal", create({"--size", "0x4000000"}, out), 2, "'0x4000000'"},
      {"a size with a space", create({"--size", "1 G"}, out), 2, "'1 G'"},
      {"a size in GiB", create({"--size", "1GiB"}, out), 2, "'1GiB'"},
      {"an empty size", create({"--size="}, out), 2, "invalid size ''"},
      {"a fraction of a byte", create({"--size", "1.5"}, out), 2, "'1.5'"},
      {"a size of 16 EiB", create({"--size", "16E"}, out), 2, "'16E'"},
      {"a size one byte past 64 TiB", create({"--size", "70368744177665"}, out), 2, "maximum"},
      {"a size of forty digits", create({"--size", std::string(40, '9')}, out), 2, "too large"},
      {"a size of minus zero", create({"--size", "-0"}, out), 2, "negative"},
      {"a size with two dots", create({"--size", "1..5G"}, out), 2, "'1..5G'"},
      {"a size of one byte", create({"--size", "1"}, out), 1, "ext4"},
      {"a format in capitals", create({"--size", "64M", "--format", "QCOW2"}, out), 2, "'QCOW2'"},
      {"an empty format", create({"--size", "64M", "--format="}, out), 2, "format ''"},
      {"a format with an equals sign", create({"--size", "64M", "--format=raw=qcow2"}, out), 2,
       "'raw=qcow2'"},
      {"an empty filesystem", create({"--size", "64M", "--filesystem", ""}, out), 2,
       "filesystem ''"},
      {"a filesystem with a blank", create({"--size", "64M", "--filesystem", "ext4 "}, out), 2,
       "'ext4 '"},
      {"a partition table in capitals", create({"--size", "64M", "--partition", "GPT"}, out), 2,
       "'GPT'"},
      {"a preallocation in capitals", create({"--size", "64M", "--preallocation", "FULL"}, out), 2,
       "'FULL'"},
      {"three dashes", create({"---size", "64M"}, out), 2, "'---size'"},
      {"a short option", create({"-s", "64M"}, out), 2, "'-s'"},
      {"a flag given a value", create({"--size", "64M", "--force=yes"}, out), 2,
       "'--force' takes no value"},
      {"an option without its value", {"create", out, "--size"}, 2, "'--size' needs a value"},
      {"a label of 5000 bytes", create({"--size", "64M", "--label", std::string(5000, 'l')}, out),
       1, "llllllll"},
      {"a label that is not UTF-8", create({"--size", "64M", "--label", "l\xff"}, out), 1, "label"},
      {"a path as the filesystem UUID",
       create({"--size", "64M", "--uuid", "../../etc/passwd"}, out), 1, "../../etc/passwd"},
      {"a FIFO as content", create({"--size", "64M", "--content", file("fifo")}, out), 1, "fifo"},
      {"a symlink loop as content", create({"--size", "64M", "--content", file("loop")}, out), 1,
       "loop"},
      // Outputs.
      {"an output that is a symlink to a file outside",
       create({"--size", "64M"}, file("link-to-secret")), 1, "link-to-secret"},
      {"an output that is a symlink, with --force",
       create({"--size", "64M", "--force"}, file("link-to-secret")), 1, "never replaced"},
      {"an output that is a dangling symlink", create({"--size", "64M"}, file("dangling")), 1,
       "dangling"},
      {"a dangling symlink, with --force", create({"--size", "64M", "--force"}, file("dangling")),
       1, "never replaced"},
      {"an output that is a directory", create({"--size", "64M"}, file("a-directory")), 1,
       "a-directory"},
      {"an output that is a FIFO, with --force", create({"--size", "64M", "--force"}, file("fifo")),
       1, "never replaced"},
      {"an output ending in a slash", create({"--size", "64M"}, file("new/")), 1,
       "names a directory"},
      {"an output of dots", create({"--size", "64M"}, file("..")), 1, "names a directory"},
      {"an output in a missing directory", create({"--size", "64M"}, file("missing/x.qcow2")), 1,
       "missing"},
      {"an output under a file", create({"--size", "64M"}, file("disk.raw/x.qcow2")), 1,
       "disk.raw"},
      {"an output name of 300 bytes", create({"--size", "64M"}, file(std::string(300, 'n'))), 1,
       "nnnnnnnn"},
      {"an output path of 5000 bytes",
       create({"--size", "64M"}, root_ + "/" + std::string(5000, 'p') + "/x"), 1, "pppppppp"},
  };
  runCases("create", cases);
  std::printf("[ hostile  ] CLI create: %d cases\n", count_);
  EXPECT_GE(count_, 40);
}

TEST_F(CliHostile, InfoExportImportCloneAndResizeRefuseHostileQcow2Headers) {
  // Offsets of the qcow2 header fields (docs/interop/qcow2.txt in QEMU).
  uint64_t l1 = loadBe64(qcow2_, 40);
  std::string selfBacked = file("self.qcow2");
  ASSERT_EQ(run({"qemu-img", "create", "-q", "-f", "qcow2", selfBacked, "64M"}).exitCode, 0);
  ASSERT_EQ(
      run({"qemu-img", "rebase", "-u", "-f", "qcow2", "-b", selfBacked, "-F", "qcow2", selfBacked})
          .exitCode,
      0);
  std::string missingBacking = file("missing-backing.qcow2");
  ASSERT_EQ(run({"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", file("no-such-base.raw"),
                 "-F", "raw", missingBacking, "64M"})
                .exitCode,
            0);
  auto cutTo = [&](const std::string& name, size_t size) {
    writeFileAt(file(name), 0, qcow2_.substr(0, size));
    return file(name);
  };
  struct Header {
    std::string what, path, names;
  };
  std::vector<Header> headers = {
      {"version 1", qcow2With("v1.qcow2", 4, be32(1)), "version 1"},
      {"version 4", qcow2With("v4.qcow2", 4, be32(4)), "version 4"},
      {"cluster_bits 8", qcow2With("cb8.qcow2", 20, be32(8)), "cluster_bits 8"},
      {"cluster_bits 22", qcow2With("cb22.qcow2", 20, be32(22)), "cluster_bits 22"},
      {"cluster_bits 2^32-1", qcow2With("cbmax.qcow2", 20, be32(UINT32_MAX)), "cluster_bits"},
      {"encryption", qcow2With("aes.qcow2", 32, be32(1)), "crypt_method 1"},
      {"LUKS encryption", qcow2With("luks.qcow2", 32, be32(2)), "crypt_method 2"},
      {"l1_size 2^32-1", qcow2With("l1huge.qcow2", 36, be32(UINT32_MAX)), "l1_size 4294967295"},
      {"l1_size 0", qcow2With("l1zero.qcow2", 36, be32(0)), "l1_size 0"},
      {"a virtual size of 2^63", qcow2With("size63.qcow2", 24, be64(uint64_t{1} << 63)),
       "9223372036854775808"},
      {"a virtual size of 2^64-1", qcow2With("sizemax.qcow2", 24, be64(UINT64_MAX)), "l1_size"},
      {"an unaligned L1 table", qcow2With("l1odd.qcow2", 40, be64(l1 + 12345)), "l1_table_offset"},
      {"an L1 table past the end", qcow2With("l1far.qcow2", 40, be64(uint64_t{1} << 40)),
       "past the end"},
      {"a refcount table past the end", qcow2With("rtfar.qcow2", 48, be64(uint64_t{1} << 40)),
       "refcount_table_offset"},
      {"an unaligned refcount table", qcow2With("rtodd.qcow2", 48, be64(65537)),
       "refcount_table_offset 65537"},
      {"an unknown incompatible feature", qcow2With("feat.qcow2", 72, be64(uint64_t{1} << 63)),
       "unknown incompatible features 0x8000000000000000"},
      {"an external data file", qcow2With("datafile.qcow2", 72, be64(4)), "external data file"},
      {"extended L2 entries", qcow2With("extl2.qcow2", 72, be64(16)), "extended L2"},
      {"zstd compression", qcow2With("zstd.qcow2", 104, std::string(1, '\1')), "compression type"},
      {"refcount_order 7", qcow2With("ro7.qcow2", 96, be32(7)), "refcount_order 7"},
      {"header_length 10", qcow2With("hl10.qcow2", 100, be32(10)), "header_length 10"},
      {"header_length 2^31", qcow2With("hlbig.qcow2", 100, be32(uint32_t{1} << 31)),
       "header_length 2147483648"},
      {"a backing file name of 4 KiB", qcow2With("bflong.qcow2", 8, be64(512) + be32(4096)),
       "backing_file_size 4096"},
      {"a backing file name outside the header",
       qcow2With("bfout.qcow2", 8, be64(70000) + be32(100)), "backing_file_offset 70000"},
      {"a header extension longer than the header",
       qcow2With("ext.qcow2", 112, be32(0x12345678) + be32(0xfffffff0)), "header extension"},
      {"an L1 entry past the end of the file",
       qcow2With("l1entry.qcow2", l1, be64((uint64_t{1} << 63) | (uint64_t{1} << 40))), "L2 table"},
      {"an L1 entry with reserved bits set", qcow2With("l1res.qcow2", l1, be64(0x30001)),
       "reserved bits"},
      {"an L1 entry pointing into the L1 table",
       qcow2With("l1self.qcow2", l1, be64((uint64_t{1} << 63) | l1)), "inside the L1 table"},
      {"a file cut inside the header", cutTo("cut.qcow2", 50), "too few"},
      {"a version 3 header cut short", cutTo("cut3.qcow2", 90), "too few for a version 3 header"},
      {"a backing chain that loops", selfBacked, "loops"},
      {"a backing file that does not exist", missingBacking, "no-such-base.raw"},
  };
  std::vector<Case> cases;
  // As qcow2, as the user says it is; and probed, where the header is read the same way (a
  // probed image that names a backing file is refused before its chain is looked at).
  for (const Header& h : headers) {
    cases.push_back({h.what + " (info)", {"info", "--format", "qcow2", h.path}, 1, h.names});
    cases.push_back(
        {h.what + " (import)", {"import", "--from", "qcow2", h.path, file("out.raw")}, 1, h.names});
    cases.push_back({h.what + " (export)",
                     {"export", "--format", "qcow2", h.path, file("out.gz")},
                     1,
                     h.names});
    if (h.path != selfBacked && h.path != missingBacking) {
      cases.push_back({h.what + " (probed info)", {"info", h.path}, 1, h.names});
    }
  }
  for (size_t i = 0; i < headers.size(); i += 3) {
    const Header& h = headers[i];
    cases.push_back({h.what + " (clone)",
                     {"clone", "--format", "qcow2", h.path, file("clone.qcow2")},
                     1,
                     h.names});
    cases.push_back(
        {h.what + " (resize)", {"resize", "--format", "qcow2", h.path, "128M"}, 1, h.names});
  }
  runCases("qcow2 headers", cases);
  std::printf("[ hostile  ] CLI hostile qcow2 headers: %zu files, %d runs\n", headers.size(),
              count_);
  EXPECT_GE(count_, 100);
}

TEST_F(CliHostile, ImportRefusesHostileGzipStreams) {
  const std::string& g = gzip_;
  const size_t n = g.size();
  auto withTrailer = [&](uint32_t crc, uint32_t isize) {
    return g.substr(0, n - 8) + le32(crc) + le32(isize);
  };
  uint32_t crc = 0, isize = 0;
  for (int i = 0; i < 4; ++i) {
    crc |= static_cast<uint32_t>(static_cast<unsigned char>(g[n - 8 + i])) << (8 * i);
    isize |= static_cast<uint32_t>(static_cast<unsigned char>(g[n - 4 + i])) << (8 * i);
  }
  const std::string header = g.substr(0, 10);
  std::string flipped = g;
  flipped[n / 2] = static_cast<char>(flipped[n / 2] ^ 0x55);
  std::string secondBadCrc = g + withTrailer(crc ^ 1, isize);
  std::string storedBad =
      header + std::string("\x01\x05\x00\x00\x00", 5) + "hello" + std::string(8, '\0');
  std::string badBlock = header + "\x07" + std::string(8, '\0');
  std::string hcrc = g;
  hcrc[3] = 0x02;  // FHCRC: a header CRC16 that cannot match follows
  hcrc.insert(10, "\x12\x34");
  std::string reserved = g;
  reserved[3] = static_cast<char>(0xe0);
  std::string cm7 = g;
  cm7[2] = 7;
  std::string extra = header;
  extra[3] = 0x04;  // FEXTRA, with a length past the end
  extra += "\xff\xff" + std::string(20, 'x');
  std::string name = header;
  name[3] = 0x08;  // FNAME, never terminated
  name += std::string(5000, 'n');
  const std::string out = file("out.raw");
  auto import = [&](const std::string& fileName, const std::string& bytes) {
    return std::vector<std::string>{"import", gzipFile(fileName, bytes), out};
  };
  std::vector<Case> cases = {
      {"a gzip header alone", import("h.gz", header), 1, "offset"},
      {"half a gzip header", import("hh.gz", header.substr(0, 5)), 1, "offset"},
      {"a stream cut before its trailer", import("t8.gz", g.substr(0, n - 8)), 1, "offset"},
      {"a stream cut inside its trailer", import("t3.gz", g.substr(0, n - 3)), 1, "offset"},
      {"a wrong ISIZE", import("isize.gz", withTrailer(crc, isize + 1)), 1, "offset"},
      {"an ISIZE of 2^32-1", import("isizemax.gz", withTrailer(crc, UINT32_MAX)), 1, "offset"},
      {"an ISIZE of zero", import("isize0.gz", withTrailer(crc, 0)), 1, "offset"},
      {"a CRC of zero", import("crc0.gz", withTrailer(0, isize)), 1, "offset"},
      {"a bad CRC in the second member", import("m2.gz", secondBadCrc), 1, "offset"},
      {"a second member cut short", import("m2cut.gz", g + g.substr(0, n / 3)), 1, "offset"},
      {"garbage after the stream", import("garbage.gz", g + "this is not gzip at all"), 1,
       "offset"},
      {"a second gzip magic and nothing else", import("magic.gz", g + "\x1f\x8b"), 1, "offset"},
      {"a corrupted deflate stream", import("flip.gz", flipped), 1, "offset"},
      {"an invalid deflate block type", import("btype.gz", badBlock), 1, "offset"},
      {"a stored block whose lengths disagree", import("stored.gz", storedBad), 1, "offset"},
      {"a compression method other than deflate", import("cm7.gz", cm7), 1, "offset"},
      {"reserved flags", import("reserved.gz", reserved), 1, "offset"},
      {"a header CRC that does not match", import("hcrc.gz", hcrc), 1, "offset"},
      {"an extra field past the end", import("extra.gz", extra), 1, "offset"},
      {"a file name never terminated", import("name.gz", name), 1, "offset"},
      {"an empty standard input", {"import", "-", out}, 1, "gzip", std::string()},
      {"a qcow2 image on standard input", {"import", "-", out}, 1, "not a gzip", qcow2_},
      {"a stream cut short on standard input",
       {"import", "-", out},
       1,
       "offset",
       g.substr(0, n / 2)},
      {"garbage after the stream on standard input",
       {"import", "-", out},
       1,
       "offset",
       g + std::string(100, '\x01')},
      {"an unknown output format",
       {"import", "--format", "vmdk", file("good.gz"), out},
       2,
       "'vmdk'"},
      {"an output that is a symlink",
       {"import", "--force", file("good.gz"), file("link-to-secret")},
       1,
       "never replaced"},
      {"an output that is a dangling symlink",
       {"import", file("good.gz"), file("dangling")},
       1,
       "dangling"},
      {"an output that is a directory",
       {"import", file("good.gz"), file("a-directory")},
       1,
       "a-directory"},
      {"an input that is a directory", {"import", file("a-directory"), out}, 1, "a-directory"},
      {"an input that is a symlink loop", {"import", file("loop"), out}, 1, "loop"},
      {"an input that does not exist", {"import", file("nope.gz"), out}, 1, "nope.gz"},
  };
  runCases("import", cases);
  std::printf("[ hostile  ] CLI import: %d cases\n", count_);
  EXPECT_GE(count_, 30);
}

TEST_F(CliHostile, ExportCloneAndResizeRefuseHostileArgumentsAndOutputs) {
  const std::string raw = file("disk.raw");
  std::vector<Case> cases = {
      {"export level 0", {"export", "--level", "0", raw, file("o.gz")}, 2, "'0'"},
      {"export level with a letter", {"export", "--level", "5x", raw, file("o.gz")}, 2, "'5x'"},
      {"export threads 0", {"export", "--threads", "0", raw, file("o.gz")}, 2, "'0'"},
      {"export threads 257", {"export", "--threads", "257", raw, file("o.gz")}, 2, "'257'"},
      {"export threads past 64 bits",
       {"export", "--threads", "99999999999999999999", raw, file("o.gz")},
       2,
       "99999999999999999999"},
      {"export threads negative", {"export", "--threads", "-1", raw, file("o.gz")}, 2, "'-1'"},
      {"export to a symlink", {"export", raw, file("link-to-secret")}, 1, "link-to-secret"},
      {"export to a symlink, with --force",
       {"export", "--force", raw, file("link-to-secret")},
       1,
       "never replaced"},
      {"export to a dangling symlink", {"export", raw, file("dangling")}, 1, "dangling"},
      {"export to a directory", {"export", raw, file("a-directory")}, 1, "a-directory"},
      {"export to a FIFO, with --force",
       {"export", "--force", raw, file("fifo")},
       1,
       "never replaced"},
      {"export to a name of 300 bytes", {"export", raw, file(std::string(300, 'e'))}, 1, "eeee"},
      {"export of a directory", {"export", file("a-directory"), file("o.gz")}, 1, "a-directory"},
      {"export of a symlink loop", {"export", file("loop"), file("o.gz")}, 1, "loop"},
      {"export of a FIFO", {"export", file("fifo"), file("o.gz")}, 1, "not a regular file"},
      {"info of a FIFO", {"info", file("fifo")}, 1, "not a regular file"},
      {"clone of a FIFO", {"clone", file("fifo"), file("c.qcow2")}, 1, "not a regular file"},
      {"clone to a symlink", {"clone", raw, file("link-to-secret")}, 1, "link-to-secret"},
      {"clone to a symlink, with --force",
       {"clone", "--force", raw, file("link-to-secret")},
       1,
       "is not a regular file"},
      {"clone to a dangling symlink", {"clone", raw, file("dangling")}, 1, "dangling"},
      {"clone onto itself", {"clone", "--force", raw, raw}, 1, "disk.raw"},
      {"clone with a path as UUID", {"clone", "--uuid", "../x", raw, file("c.raw")}, 2, "'../x'"},
      {"clone with an empty UUID", {"clone", "--uuid=", raw, file("c.raw")}, 2, "--uuid ''"},
      {"clone of a directory", {"clone", file("a-directory"), file("c.raw")}, 1, "a-directory"},
      {"resize to 1e9", {"resize", raw, "1e9"}, 2, "'1e9'"},
      {"resize to zero", {"resize", raw, "0"}, 2, "'0'"},
      {"resize to a negative size", {"resize", raw, "-1G"}, 2, "'-1G'"},
      {"resize to 2^64", {"resize", raw, "18446744073709551616"}, 2, "too large"},
      {"resize past the maximum", {"resize", raw, "65T"}, 2, "maximum"},
      {"resize to an empty size", {"resize", raw, ""}, 2, "invalid size ''"},
      {"resize of a FIFO", {"resize", file("fifo"), "1G"}, 1, "fifo"},
      {"resize of a directory", {"resize", file("a-directory"), "1G"}, 1, "a-directory"},
      {"resize of a missing image", {"resize", file("nope.raw"), "1G"}, 1, "nope.raw"},
      {"info of a symlink loop", {"info", file("loop")}, 1, "loop"},
      {"info of a path of 5000 bytes", {"info", root_ + "/" + std::string(5000, 'i')}, 1, "iiii"},
      {"an unknown command", {"format", raw}, 2, "unknown command 'format'"},
      {"a command that is a path", {"../../bin/sh"}, 2, "'../../bin/sh'"},
  };
  runCases("export, clone, resize, info", cases);
  std::printf("[ hostile  ] CLI export, clone, resize, info: %d cases\n", count_);
  EXPECT_GE(count_, 34);
}

}  // namespace
}  // namespace virtscratch::test
