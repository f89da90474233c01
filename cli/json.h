// Minimal JSON output for --json: string escaping, and an object writer that keeps commas right.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace virtscratch::cli {

// A JSON string literal, quotes included. Bytes that are not valid UTF-8 become U+FFFD.
std::string jsonString(std::string_view s);

class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  JsonObject& add(std::string_view key, uint64_t value);
  JsonObject& add(std::string_view key, int value) {
    return add(key, static_cast<uint64_t>(value));
  }
  JsonObject& add(std::string_view key, bool value);
  // `json` is inserted as it is: an object or array already rendered.
  JsonObject& addRaw(std::string_view key, std::string_view json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};

}  // namespace virtscratch::cli
