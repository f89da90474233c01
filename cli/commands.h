// The subcommands of virt-scratch. Each takes the arguments after its name and returns the exit
// status: 0 success, 1 failure, 2 usage error.
#pragma once

#include <span>

namespace virtscratch::cli {

int runCreate(std::span<char* const> args);
int runInfo(std::span<char* const> args);

}  // namespace virtscratch::cli
