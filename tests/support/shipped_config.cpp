#include "tests/support/shipped_config.h"

#include <cctype>
#include <fstream>

namespace virtscratch::test {

std::string uncommentedConfig(const std::string& path, int* keys) {
  std::ifstream in(path);
  std::string text, line;
  *keys = 0;
  while (std::getline(in, line)) {
    // Prose comments start with "# "; a documented key starts right after the '#'.
    if (line.size() > 1 && line[0] == '#' && std::isalpha(static_cast<unsigned char>(line[1])) &&
        line.find(" =") != std::string::npos) {
      line.erase(0, 1);
      ++*keys;
    }
    text += line + "\n";
  }
  return text;
}

}  // namespace virtscratch::test
