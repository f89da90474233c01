#include "tests/support/qemu_img.h"

#include <stdexcept>

#include "tests/support/test_util.h"

namespace virtscratch::test {

std::vector<std::string> withKey(const std::string& image, const std::string& keyFile,
                                 const std::string& format) {
  std::string opened = format == "raw"
                           ? "driver=luks,file.filename=" + image + ",key-secret=k0"
                           : "driver=qcow2,file.filename=" + image + ",encrypt.key-secret=k0";
  return {"--object", "secret,id=k0,file=" + keyFile, "--image-opts", opened};
}

CommandResult qemuImg(std::vector<std::string> head, const std::vector<std::string>& keyed,
                      const std::vector<std::string>& tail) {
  head.insert(head.begin(), "qemu-img");
  head.insert(head.end(), keyed.begin(), keyed.end());
  head.insert(head.end(), tail.begin(), tail.end());
  return run(head);
}

Json qemuImgInfo(const std::string& image) {
  CommandResult r = run({"qemu-img", "info", "--output=json", image});
  if (r.exitCode != 0) throw std::runtime_error("qemu-img info " + image + ": " + r.err);
  return Json::parse(r.out);
}

std::string guestRaw(const std::string& image, const std::string& rawPath) {
  if (qemuImgInfo(image)["format"].str() == "raw") return image;
  CommandResult r = run({"qemu-img", "convert", "-O", "raw", image, rawPath});
  if (r.exitCode != 0) throw std::runtime_error("qemu-img convert " + image + ": " + r.err);
  return rawPath;
}

}  // namespace virtscratch::test
