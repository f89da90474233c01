#include "tests/e2e/guest_check.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "tests/support/test_util.h"

namespace virtscratch::test {

std::map<std::string, std::vector<GuestCheck>> parseGuestChecks(const std::string& console) {
  std::map<std::string, std::vector<GuestCheck>> checks;
  std::istringstream lines(console);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    GuestCheck check;
    std::istringstream words(line);
    std::string word;
    words >> word;
    if (word == "VS-CHECK-FAILED") {
      check.failed = true;
    } else if (word != "VS-CHECK") {
      continue;
    }
    check.line = line;
    while (words >> word) {
      auto eq = word.find('=');
      if (eq != std::string::npos) check.fields[word.substr(0, eq)] = word.substr(eq + 1);
    }
    checks[check["label"]].push_back(check);
  }
  return checks;
}

std::string contentDigest(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) {
      files.push_back(std::filesystem::relative(entry.path(), dir).string());
    }
  }
  std::sort(files.begin(), files.end());
  std::string stream;
  for (const std::string& file : files) {
    stream += "vs-content/" + file + "\n" + readFile(dir + "/" + file);
  }
  return runWithInput({"md5sum"}, stream).out.substr(0, 32);
}

}  // namespace virtscratch::test
