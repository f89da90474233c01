// Discard: the disks `virt-scratch enable` writes carry discard='unmap' and detect_zeroes='unmap',
// so what the guest deletes and trims goes back to the host, qcow2 and raw alike; a disk enabled
// with --discard ignore keeps every block, which shows the guest really wrote what the others
// gave back. The images are measured once the guest has mounted each and written its marker
// (vs.gate), just before it writes 200 MiB.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "tests/e2e/scratch_test.h"

namespace virtscratch::test {
namespace {

using DiscardScratchDisk = ScratchTest;

constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr unsigned kWrittenMiB = 200;

// The <disk> element of `target` in `xml` (a domain definition).
std::string diskElement(const std::string& xml, const std::string& target) {
  size_t at = xml.find("<target dev='" + target + "'");
  if (at == std::string::npos) return "";
  size_t begin = xml.rfind("<disk", at);
  size_t end = xml.find("</disk>", at);
  return begin == std::string::npos || end == std::string::npos ? ""
                                                                : xml.substr(begin, end - begin);
}

TEST_F(DiscardScratchDisk, FstrimInTheGuestGivesTheSpaceBackToTheHost) {
  startDaemon();
  Guest guest;
  guest.check = "trimq:ext4,trimr:ext4,kept:ext4";
  guest.trimMiB = kWrittenMiB;
  guest.gate = true;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  ASSERT_NO_FATAL_FAILURE(
      enable({"--size", "512M", "--label", "trimq", "--target", "vdb", "--lifetime", "domain"}));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "512M", "--format", "raw", "--label", "trimr",
                                  "--target", "vdc", "--lifetime", "domain"}));
  ASSERT_NO_FATAL_FAILURE(enable({"--size", "512M", "--label", "kept", "--target", "vdd",
                                  "--lifetime", "domain", "--discard", "ignore"}));
  std::string definition = virsh({"dumpxml", "--inactive", name()}).out;
  for (const char* target : {"vdb", "vdc"}) {
    std::string disk = diskElement(definition, target);
    EXPECT_NE(disk.find("discard='unmap'"), std::string::npos) << disk;
    EXPECT_NE(disk.find("detect_zeroes='unmap'"), std::string::npos) << disk;
  }
  std::string kept = diskElement(definition, "vdd");
  EXPECT_EQ(kept.find("discard="), std::string::npos) << kept;

  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err << daemonLog();
  const std::map<std::string, std::string> images = {{"trimq", poolImage("vdb", "qcow2")},
                                                     {"trimr", poolImage("vdc", "raw")},
                                                     {"kept", poolImage("vdd", "qcow2")}};
  // Each disk as the guest has it mounted, with its marker written, before the guest fills it.
  std::map<std::string, uint64_t> before;
  for (const char* label : {"trimq", "trimr", "kept"}) {
    ASSERT_TRUE(waitForConsole(std::string("VS-TRIM-READY label=") + label, 120s)) << console();
    before[label] = allocatedBytesOf(images.at(label));
    ASSERT_NO_FATAL_FAILURE(openGate());
  }
  ASSERT_TRUE(waitForState("shut off", 300s)) << console();

  std::string seen = console();
  for (const auto& [label, path] : images) {
    EXPECT_NE(seen.find("VS-TRIM-FILLED label=" + label), std::string::npos) << seen;
    EXPECT_NE(seen.find("VS-CHECK label=" + label), std::string::npos) << seen;
    uint64_t after = allocatedBytesOf(path);
    RecordProperty("allocated_" + label,
                   std::to_string(before[label]) + " -> " + std::to_string(after));
    if (label == "kept") {
      EXPECT_GE(after, before[label] + (kWrittenMiB - 20) * kMiB)
          << "without discard the " << kWrittenMiB
          << " MiB the guest wrote should stay: " << before[label] << " bytes before, " << after
          << " after\n"
          << seen;
    } else {
      // What stays is the guest filesystem's journal and, in a qcow2, its own tables: tens to
      // hundreds of KiB, which no trim gives back. At most 1% of what the guest wrote may stay.
      EXPECT_LE(after, before[label] + kWrittenMiB * kMiB / 100)
          << label << ": " << before[label] << " bytes allocated before the guest wrote "
          << kWrittenMiB << " MiB, deleted and trimmed it; " << after << " after\n"
          << seen;
    }
  }
  CommandResult check = run({"qemu-img", "check", images.at("trimq")});
  EXPECT_EQ(check.exitCode, 0) << check.out << check.err;
}

}  // namespace
}  // namespace virtscratch::test
