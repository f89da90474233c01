// Guest truth for every kind of disk: images made with the real virt-scratch command (every
// filesystem with every partition table in both formats, preallocated ones, clones of one
// template, grown and imported ones) attached at once to one domain on a virtio-scsi
// controller. The guest kernel mounts each (swapon for swap), reads the content the host put
// there, writes a marker and unmounts (scripts/vm-env, vs.check); once it is off, the host reads
// each marker back with the filesystem's own tools and checks each filesystem read-only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/e2e/guest_check.h"
#include "tests/e2e/host_filesystem.h"
#include "tests/e2e/vm_fixture.h"

namespace virtscratch::test {
namespace {

struct MatrixDisk {
  std::string label{};
  std::string filesystem{};
  std::string partition = "none";
  std::string format = "qcow2";
  std::string size{};                        // in MiB: NNNM
  std::vector<std::string> createOptions{};  // more options for `virt-scratch create`
  bool content = true;                       // made with --content
  std::string image{};                       // set when made
  bool grow = false;                         // the guest grows it to its device, mounted
  uint64_t grownFrom = 0;                    // resized: the filesystem must now be larger

  std::string name() const {
    return label + " (" + filesystem + ", " + partition + ", " + format + ")";
  }
};

// The smallest size virt-scratch makes each filesystem at, with room for a partition table.
std::string sizeFor(const std::string& filesystem) {
  if (filesystem == "xfs") return "320M";
  if (filesystem == "btrfs") return "128M";
  if (filesystem == "swap") return "32M";
  return "64M";
}

// Labels fit every filesystem's limit (vfat 11 bytes): E4GQ is ext4, GPT, qcow2.
std::string matrixLabel(const std::string& fs, const std::string& partition,
                        const std::string& format) {
  std::string code = fs.rfind("ext", 0) == 0 ? "E" + fs.substr(3) : fs.substr(0, 2);
  code += partition.substr(0, 1) + format.substr(0, 1);
  for (char& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return code;
}

class DiskMatrix : public VmTest {
 protected:
  void SetUp() override {
    VmTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    content_ = dir_->file("content");
    std::filesystem::create_directories(content_ + "/vs-content/sub");
    writeFileAt(content_ + "/vs-content/hello.txt", 0, "made on the host by virt-scratch\n");
    writeFileAt(content_ + "/vs-content/sub/nested.txt", 0, "one level down\n");
    std::filesystem::create_directories(dir_->file("images"));
  }

  std::string imagePath(const std::string& name, const std::string& format) {
    return dir_->file("images/" + name + "." + format);
  }

  // virt-scratch create for `disk`, into its image path.
  void create(MatrixDisk& disk) {
    disk.image = imagePath(disk.label, disk.format);
    if (disk.size.empty()) disk.size = sizeFor(disk.filesystem);
    std::vector<std::string> args = {"create",       "--size",       disk.size,       "--format",
                                     disk.format,    "--filesystem", disk.filesystem, "--partition",
                                     disk.partition, "--label",      disk.label};
    if (disk.content) args.insert(args.end(), {"--content", content_});
    args.insert(args.end(), disk.createOptions.begin(), disk.createOptions.end());
    args.push_back(disk.image);
    CommandResult r = cli(args);
    ASSERT_EQ(r.exitCode, 0) << "virt-scratch create of " << disk.name() << ": " << r.err;
  }

  // Preallocated: every qcow2 cluster mapped; space reserved in both formats.
  void addPreallocated(std::vector<MatrixDisk>& disks) {
    std::vector<MatrixDisk> made = {
        {.label = "PMETA", .filesystem = "ext4", .createOptions = {"--preallocation", "metadata"}},
        {.label = "PFALR",
         .filesystem = "ext4",
         .partition = "gpt",
         .format = "raw",
         .createOptions = {"--preallocation", "falloc"}},
        {.label = "PFALQ",
         .filesystem = "vfat",
         .partition = "mbr",
         .createOptions = {"--preallocation", "falloc"}},
    };
    for (MatrixDisk& disk : made) ASSERT_NO_FATAL_FAILURE(create(disk));
    disks.insert(disks.end(), made.begin(), made.end());
  }

  // Two clones of one template (which is not attached), to be attached together.
  void addClones(std::vector<MatrixDisk>& disks) {
    MatrixDisk clone = {.label = "CLONE", .filesystem = "ext4", .partition = "gpt"};
    ASSERT_NO_FATAL_FAILURE(create(clone));
    template_ = clone.image;
    for (const char* name : {"clone1", "clone2"}) {
      clone.image = imagePath(name, "qcow2");
      CommandResult r = cli({"clone", "--format", "qcow2", template_, clone.image});
      ASSERT_EQ(r.exitCode, 0) << "virt-scratch clone " << name << ": " << r.err;
      disks.push_back(clone);
    }
  }

  // Grown with resize: ext4 offline by the command, xfs and btrfs by the guest once mounted.
  // GROWE4ON is grown by the guest too (resize2fs on the mounted filesystem, the kernel's online
  // resize): its raw file is only made larger, as a host grows a disk under a VM. 64 MiB of ext4
  // has 1 KiB blocks, so 16 groups of 8 MiB to a meta group; 512 MiB takes three more meta
  // groups, which is how ext4 made without resize_inode grows.
  void addGrown(std::vector<MatrixDisk>& disks) {
    std::vector<MatrixDisk> made = {
        {.label = "GROWE4", .filesystem = "ext4", .partition = "gpt", .size = "64M"},
        {.label = "GROWE4ON", .filesystem = "ext4", .format = "raw", .size = "64M", .grow = true},
        {.label = "GROWXF", .filesystem = "xfs", .format = "raw", .size = "320M", .grow = true},
        {.label = "GROWBT",
         .filesystem = "btrfs",
         .partition = "mbr",
         .size = "128M",
         .grow = true},
    };
    for (MatrixDisk& disk : made) {
      ASSERT_NO_FATAL_FAILURE(create(disk));
      disk.grownFrom = std::stoull(disk.size) << 20;
      if (disk.filesystem == "ext4" && disk.grow) {
        std::filesystem::resize_file(disk.image, disk.grownFrom * 8);
        disks.push_back(disk);
        continue;
      }
      // btrfs refuses to resize to less than 256 MiB.
      uint64_t to = disk.grownFrom * (disk.filesystem == "btrfs" ? 4 : 2);
      CommandResult r = cli({"resize", "--format", disk.format, disk.image, std::to_string(to)});
      ASSERT_EQ(r.exitCode, 0) << "virt-scratch resize of " << disk.name() << ": " << r.err;
      disks.push_back(disk);
    }
  }

  // Restored: a qcow2 image exported to gzip and imported as raw.
  void addImported(std::vector<MatrixDisk>& disks) {
    MatrixDisk imported = {.label = "IMPORT", .filesystem = "xfs", .partition = "gpt"};
    ASSERT_NO_FATAL_FAILURE(create(imported));
    std::string gz = dir_->file("images/export.gz");
    CommandResult r = cli({"export", "--format", "qcow2", imported.image, gz});
    ASSERT_EQ(r.exitCode, 0) << "virt-scratch export: " << r.err;
    std::filesystem::remove(imported.image);
    imported.format = "raw";
    imported.image = imagePath("IMPORT", "raw");
    r = cli({"import", "--format", "raw", gz, imported.image});
    ASSERT_EQ(r.exitCode, 0) << "virt-scratch import: " << r.err;
    disks.push_back(imported);
  }

  // What the guest printed for `disk` (found by the UUID the host sees) against what the host
  // reads from its image now.
  void checkOnHost(const MatrixDisk& disk, const std::vector<GuestCheck>& lines,
                   const std::string& workDir) {
    SCOPED_TRACE("disk " + disk.name() + ", " + disk.image);
    std::unique_ptr<HostFilesystem> host;
    try {
      host = std::make_unique<HostFilesystem>(disk.image, disk.filesystem, disk.partition != "none",
                                              workDir);
    } catch (const std::exception& e) {
      FAIL() << e.what();
    }
    std::string uuid = host->probe()["UUID"];
    auto line = std::find_if(lines.begin(), lines.end(),
                             [&](const GuestCheck& c) { return c["uuid"] == uuid; });
    ASSERT_NE(line, lines.end()) << "the guest printed no VS-CHECK line for " << disk.name()
                                 << " (UUID " << uuid << ")";
    const GuestCheck& seen = *line;
    EXPECT_EQ(seen["fs"], disk.filesystem) << seen.line;
    EXPECT_EQ(seen["devsize"], std::to_string(host->deviceBytes())) << seen.line;
    CommandResult fsck = host->check();
    EXPECT_EQ(fsck.exitCode, 0) << "the read-only check of " << disk.name()
                                << " is not clean: " << fsck.out << fsck.err;
    if (disk.format == "qcow2") {
      CommandResult image = run({"qemu-img", "check", disk.image});
      EXPECT_EQ(image.exitCode, 0) << "qemu-img check: " << image.out << image.err;
    }
    if (disk.createOptions == std::vector<std::string>{"--preallocation", "falloc"}) {
      EXPECT_GE(allocatedBytesOf(disk.image), std::stoull(disk.size) << 20)
          << "falloc reserved less than the disk's size";
    }
    if (disk.filesystem == "swap") {
      EXPECT_EQ(seen["swap"], "on") << seen.line;
      return;
    }
    EXPECT_EQ(seen["marker"], "written") << seen.line;
    EXPECT_EQ(seen["content"], disk.content ? digest_ : "none") << seen.line;
    if (disk.grownFrom > 0) {
      EXPECT_GT(std::stoull("0" + seen["fssize"]), disk.grownFrom)
          << "the guest does not see the grown filesystem: " << seen.line;
    }
    try {
      EXPECT_EQ(host->readFile("/marker"),
                "written by the guest on " + disk.label + " uuid=" + uuid + "\n");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "the host cannot read the guest's marker: " << e.what();
    }
  }

  std::string content_;
  std::string digest_;    // what the guest prints as content= for content_
  std::string template_;  // the image the clones come from
};

// Every filesystem x {none, mbr, gpt} x {raw, qcow2}, with content where the filesystem stores it.
std::vector<MatrixDisk> plainMatrix() {
  std::vector<MatrixDisk> disks;
  for (const char* fs : {"ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "swap"}) {
    for (const char* partition : {"none", "mbr", "gpt"}) {
      for (const char* format : {"raw", "qcow2"}) {
        MatrixDisk disk;
        disk.label = matrixLabel(fs, partition, format);
        disk.filesystem = fs;
        disk.partition = partition;
        disk.format = format;
        disk.content = disk.filesystem != "swap";
        disks.push_back(disk);
      }
    }
  }
  return disks;
}

// vs.check for `disks`: each label once, with its count when several disks share it.
std::string checkList(const std::vector<MatrixDisk>& disks) {
  std::map<std::string, int> perLabel;
  for (const MatrixDisk& disk : disks) perLabel[disk.label]++;
  std::string check;
  for (const MatrixDisk& disk : disks) {
    int& count = perLabel[disk.label];
    if (count == 0) continue;  // named already
    check += (check.empty() ? "" : ",") + disk.label + ":" + disk.filesystem +
             (count > 1 ? ":" + std::to_string(count) : "") + (disk.grow ? ":g" : "");
    count = 0;
  }
  return check;
}

TEST_F(DiskMatrix, GuestMountsWritesAndTheHostReadsBackEveryKindOfDisk) {
  using Clock = std::chrono::steady_clock;
  auto started = Clock::now();
  std::vector<MatrixDisk> disks = plainMatrix();
  for (MatrixDisk& disk : disks) ASSERT_NO_FATAL_FAILURE(create(disk));
  ASSERT_NO_FATAL_FAILURE(addPreallocated(disks));
  ASSERT_NO_FATAL_FAILURE(addClones(disks));
  ASSERT_NO_FATAL_FAILURE(addGrown(disks));
  ASSERT_NO_FATAL_FAILURE(addImported(disks));
  auto made = Clock::now();

  Guest guest;
  guest.memoryMiB = 256;
  guest.waitSeconds = 120;
  for (const MatrixDisk& disk : disks) guest.scsiDisks.push_back({disk.image, disk.format});
  guest.check = checkList(disks);
  // The kernel keeps 2048 bytes of command line; the rest would be lost without a word.
  ASSERT_LT(guest.check.size(), 1800u) << guest.check;
  ASSERT_NO_FATAL_FAILURE(defineDomain(guest));
  CommandResult r = virsh({"start", name()});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  ASSERT_TRUE(waitForState("shut off", 300s))
      << "the guest did not power off; state " << domainState() << "; console:\n"
      << console();
  auto booted = Clock::now();

  std::string seen = console();
  ASSERT_NE(seen.find("VS-CHECK-DONE"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("VS-CHECK-MISSING"), std::string::npos) << seen;
  EXPECT_EQ(seen.find("VS-INSMOD-FAILED"), std::string::npos) << seen;
  auto checks = parseGuestChecks(seen);
  for (const auto& [label, lines] : checks) {
    for (const GuestCheck& c : lines) EXPECT_FALSE(c.failed) << "disk " << label << ": " << c.line;
  }
  digest_ = contentDigest(content_ + "/vs-content");
  for (size_t i = 0; i < disks.size(); ++i) {
    checkOnHost(disks[i], checks[disks[i].label], dir_->file("host/" + std::to_string(i)));
  }

  // The clones: two filesystems, two UUIDs, neither the template's.
  std::set<std::string> uuids, devices;
  for (const GuestCheck& c : checks["CLONE"]) {
    uuids.insert(c["uuid"]);
    devices.insert(c["dev"]);
  }
  EXPECT_EQ(uuids.size(), 2u) << "the guest saw the clones with the UUIDs " << seen;
  EXPECT_EQ(devices.size(), 2u) << seen;
  HostFilesystem original(template_, "ext4", true, dir_->file("host/template"));
  EXPECT_EQ(uuids.count(original.probe()["UUID"]), 0u) << "a clone kept the template's UUID";

  auto done = Clock::now();
  auto seconds = [](auto d) { return std::chrono::duration<double>(d).count(); };
  std::printf("disk matrix: %zu disks; images made in %.1f s, guest %.1f s, host checks %.1f s\n",
              disks.size(), seconds(made - started), seconds(booted - made),
              seconds(done - booted));
}

}  // namespace
}  // namespace virtscratch::test
