#include "tests/e2e/host_filesystem.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "tests/support/json_value.h"
#include "tests/support/qemu_img.h"

namespace virtscratch::test {
namespace {

std::string failure(const std::string& what, const CommandResult& r) {
  return what + " exited with " + std::to_string(r.exitCode) + ": " + r.err + r.out;
}

}  // namespace

HostFilesystem::HostFilesystem(const std::string& image, std::string fs, bool partitioned,
                               const std::string& workDir)
    : fs_(std::move(fs)), workDir_(workDir) {
  std::filesystem::create_directories(workDir_);
  std::string raw = guestRaw(image, workDir_ + "/disk.raw");
  if (!partitioned) {
    file_ = raw;
    bytes_ = std::filesystem::file_size(raw);
    return;
  }
  CommandResult r = run({"sfdisk", "--json", raw});
  if (r.exitCode != 0) throw std::runtime_error(failure("sfdisk --json " + image, r));
  const Json parsed = Json::parse(r.out);
  const Json& table = parsed["partitiontable"];
  if (!table.has("partitions") || table["partitions"].array().size() != 1) {
    throw std::runtime_error(image + " does not have one partition: " + r.out);
  }
  const Json& partitions = table["partitions"];
  uint64_t sector = table.has("sectorsize") ? table["sectorsize"].u64() : 512;
  uint64_t offset = partitions[0]["start"].u64() * sector;
  bytes_ = partitions[0]["size"].u64() * sector;
  file_ = workDir_ + "/filesystem";
  extractRange(raw, offset, bytes_, file_);
  if (raw != image) std::filesystem::remove(raw);
}

std::string HostFilesystem::readFile(const std::string& path) const {
  CommandResult r;
  if (fs_ == "ext2" || fs_ == "ext3" || fs_ == "ext4") {
    r = run({"debugfs", "-R", "cat " + path, file_});
    // debugfs says what went wrong on stderr and still exits 0.
    if (r.exitCode != 0 || r.err.find("not found") != std::string::npos) {
      throw std::runtime_error(failure("debugfs cat " + path, r));
    }
    return r.out;
  }
  if (fs_ == "vfat") {
    r = run({"mtype", "-i", file_, "::" + path});
    if (r.exitCode != 0) throw std::runtime_error(failure("mtype " + path, r));
    return r.out;
  }
  if (fs_ == "btrfs") {
    std::string out = workDir_ + "/restored";
    std::filesystem::create_directories(out);
    r = run({"btrfs", "restore", file_, out});
    if (r.exitCode != 0) throw std::runtime_error(failure("btrfs restore", r));
    if (!fileExists(out + path)) throw std::runtime_error("btrfs restore found no " + path);
    return test::readFile(out + path);
  }
  if (fs_ == "xfs") return readXfsFile(path);
  throw std::runtime_error(fs_ + " holds no files");
}

// xfs_db has no cat: the file's size, then its first data block as a hex dump ("000:  77 72 ...
// text"). Enough for the small files the tests read.
std::string HostFilesystem::readXfsFile(const std::string& path) const {
  CommandResult r = run({"xfs_db", "-r", "-c", "path " + path, "-c", "print core.size", "-c",
                         "dblock 0", "-c", "type text", "-c", "print", file_});
  if (r.exitCode != 0 || !r.err.empty()) throw std::runtime_error(failure("xfs_db " + path, r));
  std::istringstream lines(r.out);
  std::string line, bytes;
  uint64_t size = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("core.size = ", 0) == 0) {
      size = std::stoull(line.substr(12));
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream hex(line.substr(colon + 1));
    std::string byte;
    for (int i = 0; i < 16 && hex >> byte && byte.size() == 2; ++i) {
      bytes += static_cast<char>(std::stoi(byte, nullptr, 16));
    }
  }
  if (size > bytes.size()) {
    throw std::runtime_error("xfs_db showed " + std::to_string(bytes.size()) + " of the " +
                             std::to_string(size) + " bytes of " + path + ": " + r.out);
  }
  return bytes.substr(0, size);
}

CommandResult HostFilesystem::check() const {
  if (fs_ == "ext2" || fs_ == "ext3" || fs_ == "ext4") return run({"e2fsck", "-fn", file_});
  if (fs_ == "xfs") return run({"xfs_repair", "-n", file_});
  if (fs_ == "btrfs") return run({"btrfs", "check", "--readonly", file_});
  if (fs_ == "vfat") return run({"fsck.fat", "-n", file_});
  CommandResult r = run({"blkid", "-p", "-o", "export", file_});
  if (r.exitCode == 0 && parseExport(r.out)["TYPE"] != fs_) r.exitCode = 1;
  return r;
}

std::map<std::string, std::string> HostFilesystem::probe() const {
  return parseExport(run({"blkid", "-p", "-o", "export", file_}).out);
}

}  // namespace virtscratch::test
