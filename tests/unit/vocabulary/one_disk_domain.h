// A domain definition whose <scratch:disks> holds one disk (target vdb, 1G) with the attributes
// a test gives, for the vocabulary's metadata tests.
#pragma once

#include <string>

namespace virtscratch::vocabulary::test {

inline constexpr const char* kOneDiskUuid = "aaaaaaaa-1111-4222-8333-444444444444";

inline std::string domainWith(const std::string& diskAttributes) {
  return std::string("<domain type='qemu'><name>d</name><uuid>") + kOneDiskUuid +
         "</uuid><metadata><scratch:disks xmlns:scratch='http://virtscratch.org/xmlns/scratch/"
         "1.0'><scratch:disk target='vdb' size='1G' " +
         diskAttributes + "/></scratch:disks></metadata></domain>";
}

}  // namespace virtscratch::vocabulary::test
