// What the guest printed for each disk it checked (scripts/vm-env, vs.check): a line
//   VS-CHECK label=L fs=FS dev=DEV uuid=U devsize=BYTES fssize=BYTES content=MD5|none
//   marker=written
// (swap=on instead of the last three for swap), or VS-CHECK-FAILED label=L dev=DEV reason=WHAT.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace virtscratch::test {

struct GuestCheck {
  bool failed = false;                        // a VS-CHECK-FAILED line
  std::map<std::string, std::string> fields;  // label, fs, dev, uuid, ...
  std::string line;                           // as printed, for messages

  std::string operator[](const std::string& key) const {
    auto it = fields.find(key);
    return it == fields.end() ? "" : it->second;
  }
};

// Every VS-CHECK and VS-CHECK-FAILED line of `console`, by label, in the order printed.
std::map<std::string, std::vector<GuestCheck>> parseGuestChecks(const std::string& console);

// The md5 the guest prints as content= for a tree: every regular file under `dir` (the
// directory itself named vs-content), sorted by path, each as "vs-content/PATH\n" and its bytes.
std::string contentDigest(const std::string& dir);

}  // namespace virtscratch::test
