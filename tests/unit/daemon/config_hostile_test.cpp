// Hostile configuration files: overlong and non-UTF-8 values, paths that are relative, reach the
// root or hold control characters, sizes and timeouts at and past every limit, unknown groups,
// keys and modes, broken syntax, and files that are not files. Every one is refused with
// kInvalidArgument (or the error of the file system for files that cannot be read), and the
// message names the file, the line and the bad value.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "tests/support/test_util.h"

namespace virtscratch::daemon {
namespace {

using test::TempDir;

void writeText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

struct HostileText {
  std::string what;
  std::string text;
  // Each must appear in the message; "@N" stands for "<file>:N: ".
  std::vector<std::string> expected;
};

// "@N" expands to the file's name and line N, which every message must begin with.
std::string expand(const std::string& expected, const std::string& file) {
  if (expected.size() > 1 && expected[0] == '@') return file + ":" + expected.substr(1) + ":";
  return expected;
}

std::vector<HostileText> hostileTexts(const std::string& dir) {
  const std::string longPath = "/" + std::string(5000, 'p');
  const std::string longValue(70000, '9');
  const std::string file = dir + "/plain-file";
  return {
      // [pool] path
      {"an empty pool path", "[pool]\npath=\n", {"@2", "[pool] path", "'' is not an absolute"}},
      {"a pool path of blanks", "[pool]\npath=   \n", {"@2", "not an absolute path"}},
      {"a pool path with a tilde", "[pool]\npath=~/pool\n", {"@2", "'~/pool'"}},
      {"a pool path reaching the root through ..",
       "[pool]\npath=/srv/..\n",
       {"@2", "'/srv/..' is the root directory"}},
      {"a pool path of dots", "[pool]\npath=/./.\n", {"@2", "'/./.' is the root directory"}},
      {"a pool path of traversal only", "[pool]\npath=../../etc\n", {"@2", "'../../etc'"}},
      {"a pool path longer than PATH_MAX", "[pool]\npath=" + longPath + "\n", {"@2", "too long"}},
      {"a pool path with an escaped newline",
       "[pool]\npath=/srv/po\\nol\n",
       {"@2", "[pool] path", "control character"}},
      {"a pool path with an escaped tab", "[pool]\npath=/srv/\\tpool\n", {"@2", "control"}},
      {"a pool path that is not UTF-8", "[pool]\npath=/srv/\xff\xfe\n", {"@2", "[pool] path"}},
      {"a pool path with a bad escape", "[pool]\npath=/srv/pool\\\n", {"@2", "[pool] path"}},
      // sizes
      {"a quota in exponent notation", "[pool]\nquota=1e9\n", {"@2", "invalid size '1e9'"}},
      {"a quota of 2^64 bytes", "[pool]\nquota=18446744073709551616\n", {"@2", "too large"}},
      {"a quota of 16 EiB", "[pool]\nquota=16E\n", {"@2", "'16E'"}},
      {"a quota in hexadecimal", "[pool]\nquota=0x100000\n", {"@2", "'0x100000'"}},
      {"a quota with a two-letter unit", "[pool]\nquota=10GB\n", {"@2", "'10GB'"}},
      {"a quota with a space before the unit", "[pool]\nquota=10 G\n", {"@2", "'10 G'"}},
      {"a quota of a fraction of a byte", "[pool]\nquota=1.5\n", {"@2", "fraction"}},
      {"a quota of blanks", "[pool]\nquota= \n", {"@2", "[pool] quota", "empty"}},
      {"a quota of minus zero", "[pool]\nquota=-0\n", {"@2", "negative"}},
      {"a quota of seventy thousand digits", "[pool]\nquota=" + longValue + "\n", {"@2", "large"}},
      {"a reserve with a dot and no digits", "[pool]\nreserve=1.G\n", {"@2", "'1.G'"}},
      {"a reserve that is a word", "[pool]\nreserve=all\n", {"@2", "[pool] reserve", "'all'"}},
      {"a budget past 64 bits", "[templates]\nbudget=17179869184G\n", {"@2", "too large"}},
      {"a budget that is negative", "[templates]\nbudget=-5M\n", {"@2", "negative"}},
      // timeouts
      {"a timeout one past the limit", "[hook]\ntimeout=600001\n", {"@2", "'600001'"}},
      {"a timeout in seconds past the limit", "[hook]\ntimeout=601s\n", {"@2", "'601s'"}},
      {"a negative timeout", "[hook]\ntimeout=-1\n", {"@2", "'-1'"}},
      {"a timeout in exponent notation", "[hook]\ntimeout=1e3\n", {"@2", "'1e3'"}},
      {"a timeout with ten digits", "[hook]\ntimeout=9999999999\n", {"@2", "'9999999999'"}},
      {"a fractional timeout", "[hook]\ntimeout=1.5s\n", {"@2", "'1.5s'"}},
      {"a timeout that is a unit alone", "[hook]\ntimeout=ms\n", {"@2", "'ms'"}},
      {"a timeout of zero seconds", "[hook]\ntimeout=0s\n", {"@2", "'0s'"}},
      {"a timeout in minutes", "[hook]\ntimeout=1m\n", {"@2", "'1m'"}},
      {"a timeout with a space", "[hook]\ntimeout=30 s\n", {"@2", "'30 s'"}},
      // enums
      {"a template mode in capitals", "[templates]\nmode=REFLINK\n", {"@2", "'REFLINK'"}},
      {"an empty template mode", "[templates]\nmode=\n", {"@2", "unknown mode ''"}},
      {"a template mode that is a path", "[templates]\nmode=../off\n", {"@2", "'../off'"}},
      {"a hook failure mode in capitals", "[hook]\nfail=OPEN\n", {"@2", "'OPEN'"}},
      {"a hook failure mode that is a number", "[hook]\nfail=1\n", {"@2", "unknown mode '1'"}},
      // [access] group
      {"an empty group", "[access]\ngroup=\n", {"@2", "'' is not a group name"}},
      {"a group starting with a digit", "[access]\ngroup=1wheel\n", {"@2", "'1wheel'"}},
      {"a group of 33 characters", "[access]\ngroup=" + std::string(33, 'g') + "\n", {"@2", "ggg"}},
      {"a group that is a path", "[access]\ngroup=../etc\n", {"@2", "'../etc'"}},
      {"a group with a slash", "[access]\ngroup=a/b\n", {"@2", "'a/b'"}},
      {"a group that is not ASCII", "[access]\ngroup=gr\xc3\xbcppe\n", {"@2", "not a group"}},
      {"a group with a control character", "[access]\ngroup=wh\\teel\n", {"@2", "not a group"}},
      // [content] roots
      {"a relative content root", "[content]\nroots=content\n", {"@2", "'content' is not an"}},
      {"a content root reaching the root through ..",
       "[content]\nroots=/srv/../\n",
       {"@2", "is the root directory"}},
      {"a content root that is a file", "[content]\nroots=" + file + "\n", {"@2", "not a dir"}},
      {"a second root that is missing",
       "[content]\nroots=" + dir + ";" + dir + "/missing\n",
       {"@2", dir + "/missing"}},
      {"a content root longer than PATH_MAX",
       "[content]\nroots=" + longPath + "\n",
       {"@2", "[content] roots", "too long"}},
      {"a content root that is not UTF-8", "[content]\nroots=/srv/\xc3\n", {"@2", "roots"}},
      // groups and keys
      {"a group in capitals", "[Pool]\npath=/srv\n", {"@1", "unknown group [Pool]"}},
      {"a group with a slash", "[po/ol]\npath=/srv\n", {"@1", "unknown group [po/ol]"}},
      {"a key in capitals", "[pool]\nPath=/srv\n", {"@2", "[pool] Path: unknown key"}},
      {"a key with a locale", "[pool]\npath[de]=/srv\n", {"@2", "path[de]", "unknown key"}},
      {"a key from another group", "[pool]\nmode=off\n", {"@2", "[pool] mode: unknown key"}},
      {"a dotted key", "[hook]\nhook.fail=open\n", {"@2", "hook.fail"}},
      {"a key of 5000 characters", "[pool]\n" + std::string(5000, 'k') + "=1\n", {"@2", "kkkk"}},
      // syntax
      {"a key before any group", "path=/srv\n", {"does not start with a group"}},
      {"an unclosed group", "[pool\npath=/srv\n", {"@1", "[pool"}},
      {"an empty group name", "[]\npath=/srv\n", {"Invalid group name"}},
      {"a key that is not UTF-8", "[pool]\npa\xfftÈ=/srv\n", {"@2"}},
      {"a NUL byte in the file", std::string("[pool]\npath=/srv\0/x\n", 20), {"@2", "NUL byte"}},
      {"binary garbage",
       "\x7f"
       "ELF\x02\x01\x01\x00garbage",
       {"@1", "ELF"}},
      {"a line of only an equals sign", "[pool]\n=/srv\n", {"@2"}},
  };
}

TEST(ConfigHostile, RefusesEveryHostileFileNamingTheLineAndTheValue) {
  TempDir dir;
  writeText(dir.file("plain-file"), "not a directory");
  int cases = 0;
  for (const HostileText& c : hostileTexts(dir.path())) {
    SCOPED_TRACE(c.what);
    std::string file = dir.file("virt-scratchd.conf");
    writeText(file, c.text);
    auto config = loadConfig(file);
    ++cases;
    ASSERT_FALSE(config.ok()) << "accepted";
    EXPECT_EQ(config.status().code(), ErrorCode::kInvalidArgument) << config.status().message();
    const std::string& message = config.status().message();
    EXPECT_EQ(message.rfind(file + ":", 0), 0u) << message.substr(0, 300);
    for (const std::string& part : c.expected) {
      EXPECT_NE(message.find(expand(part, file)), std::string::npos) << message.substr(0, 300);
    }
    // Nothing of a value this long is worth repeating whole; the message stays readable.
    EXPECT_LT(message.size(), 12000u);
  }
  std::printf("[ hostile  ] configuration texts: %d cases\n", cases);
  EXPECT_GE(cases, 65);
}

// Files that are not what they claim: a FIFO must not hang the daemon's start, devices and
// loops are refused, and a drop-in directory that is a file is an error, not silence.
struct HostileFile {
  std::string what;
  std::function<void(const std::string& main)> plant;
  std::string expected;  // in the message
};

TEST(ConfigHostile, RefusesFilesThatAreNotConfigurationFiles) {
  std::vector<HostileFile> cases = {
      {"the main file is a FIFO", [](const std::string& main) { mkfifo(main.c_str(), 0644); },
       "is not a file"},
      {"the main file is a symlink to a device",
       [](const std::string& main) { symlink("/dev/zero", main.c_str()); }, "is not a file"},
      {"the main file is a symlink loop",
       [](const std::string& main) { symlink(main.c_str(), main.c_str()); }, "symbolic links"},
      {"a drop-in is a FIFO",
       [](const std::string& main) {
         mkdir((main + ".d").c_str(), 0755);
         mkfifo((main + ".d/10-fifo.conf").c_str(), 0644);
       },
       "10-fifo.conf' is not a file"},
      {"a drop-in is a directory",
       [](const std::string& main) {
         mkdir((main + ".d").c_str(), 0755);
         mkdir((main + ".d/10-dir.conf").c_str(), 0755);
       },
       "10-dir.conf' is not a file"},
      {"a drop-in is a symlink to a device",
       [](const std::string& main) {
         mkdir((main + ".d").c_str(), 0755);
         symlink("/dev/urandom", (main + ".d/20-random.conf").c_str());
       },
       "20-random.conf' is not a file"},
      {"the drop-in directory is a file",
       [](const std::string& main) { writeText(main + ".d", "[pool]\n"); }, ".d'"},
      {"a drop-in names an unknown group",
       [](const std::string& main) {
         writeText(main, "[pool]\nquota=1G\n");
         mkdir((main + ".d").c_str(), 0755);
         writeText(main + ".d/50-x.conf", "\n\n[evil]\nx=1\n");
       },
       "50-x.conf:3: unknown group [evil]"},
  };
  int count = 0;
  for (const HostileFile& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir dir;
    std::string main = dir.file("virt-scratchd.conf");
    c.plant(main);
    auto config = loadConfig(main);
    ++count;
    ASSERT_FALSE(config.ok()) << "accepted";
    EXPECT_NE(config.status().message().find(c.expected), std::string::npos)
        << config.status().message();
  }
  std::printf("[ hostile  ] configuration files: %d cases\n", count);
  EXPECT_EQ(count, 8);
}

}  // namespace
}  // namespace virtscratch::daemon
