#include "vocabulary/target.h"

#include <string>

namespace virtscratch::vocabulary {
namespace {

bool lowerLetter(char c) { return c >= 'a' && c <= 'z'; }
bool digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string_view targetProblem(std::string_view target) {
  if (target.empty()) return "is empty";
  if (target.size() > kMaxTargetLength) return "is longer than 16 characters";
  if (!lowerLetter(target.front())) return "does not start with a letter";
  for (char c : target) {
    if (!lowerLetter(c) && !digit(c)) return "has a character other than a-z and 0-9";
  }
  return {};
}

Status validateTarget(std::string_view target) {
  std::string_view problem = targetProblem(target);
  if (problem.empty()) return {};
  // The value goes into logs and one-line hook messages: no control characters in them.
  std::string shown;
  for (char c : target) {
    auto byte = static_cast<unsigned char>(c);
    shown += byte < 0x20 || byte >= 0x7f ? '?' : c;
  }
  return invalidArgument("target '" + shown + "' " + std::string(problem) + " (" +
                         std::string(kTargetRule) + ")");
}

}  // namespace virtscratch::vocabulary
