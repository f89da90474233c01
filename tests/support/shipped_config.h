// The shipped configuration file as a test wants it: every key it documents ("#key = value",
// commented out at its default) uncommented, so that a test can check each is a key the reader
// accepts and that the stated defaults are the true ones.
#pragma once

#include <string>

namespace virtscratch::test {

// The text of `path` with "#key = ..." lines uncommented; `keys` gets how many were. Empty
// text and 0 keys when the file cannot be read.
std::string uncommentedConfig(const std::string& path, int* keys);

}  // namespace virtscratch::test
