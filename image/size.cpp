#include "image/size.h"

#include <cstdio>

namespace virtscratch::image {
namespace {

// Wide enough that no 64-bit size overflows while it is parsed.
__extension__ typedef unsigned __int128 Wide;

int suffixShift(char c) {
  switch (c) {
    case 'b':
    case 'B':
      return 0;
    case 'k':
    case 'K':
      return 10;
    case 'm':
    case 'M':
      return 20;
    case 'g':
    case 'G':
      return 30;
    case 't':
    case 'T':
      return 40;
    case 'p':
    case 'P':
      return 50;
    case 'e':
    case 'E':
      return 60;
    default:
      return -1;
  }
}

Status badSize(std::string_view text, std::string_view why) {
  return invalidArgument("invalid size '" + std::string(text) + "': " + std::string(why) +
                         " (write it as qemu-img does, for example 10G, 512M, 1T or 1073741824)");
}

}  // namespace

Result<uint64_t> parseSize(std::string_view text, uint64_t max) {
  if (text.empty()) return badSize(text, "it is empty");
  if (text.front() == '-') return badSize(text, "it is negative");
  size_t i = 0;
  Wide whole = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
    if (whole > UINT64_MAX) return badSize(text, "it is too large");
    ++i;
  }
  size_t digits = i;
  // Fraction: kept as numerator/denominator so that "1.5G" is exact.
  Wide frac = 0, fracScale = 1;
  if (i < text.size() && text[i] == '.') {
    ++i;
    size_t fracStart = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (fracScale < 1000000000000000000ULL) {
        frac = frac * 10 + static_cast<unsigned>(text[i] - '0');
        fracScale *= 10;
      }
      ++i;
    }
    if (i == fracStart) return badSize(text, "a digit must follow the decimal point");
  }
  if (digits == 0) return badSize(text, "it does not start with a number");
  int shift = 0;
  if (i < text.size()) {
    shift = suffixShift(text[i]);
    if (shift < 0 || i + 1 != text.size()) {
      return badSize(text, "'" + std::string(text.substr(i)) + "' is not a unit");
    }
  }
  if (shift == 0 && fracScale != 1 && frac != 0) {
    return badSize(text, "a byte count cannot have a fraction");
  }
  Wide bytes = whole << shift;
  if ((bytes >> shift) != whole || bytes > UINT64_MAX) return badSize(text, "it is too large");
  bytes += (frac << shift) / fracScale;
  if (bytes > UINT64_MAX) return badSize(text, "it is too large");
  if (bytes == 0) return badSize(text, "it is zero");
  if (bytes > max) {
    return invalidArgument("size '" + std::string(text) + "' is above the maximum of " +
                           formatSize(max) + "; ask for at most that");
  }
  return static_cast<uint64_t>(bytes);
}

std::string formatSize(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  uint64_t scale = 1;
  while (unit < 6 && bytes / scale >= 1024) {
    scale *= 1024;
    ++unit;
  }
  char buf[48];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (bytes % scale == 0) {
    std::snprintf(buf, sizeof buf, "%llu %s", static_cast<unsigned long long>(bytes / scale),
                  kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s",
                  static_cast<double>(bytes) / static_cast<double>(scale), kUnits[unit]);
  }
  return buf;
}

}  // namespace virtscratch::image
