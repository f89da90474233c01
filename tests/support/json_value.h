// A small JSON reader for tests: reads what qemu-img, sfdisk and virt-scratch print with --json.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace virtscratch::test {

class Json {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  // Throws std::runtime_error on malformed input (tests fail with the message).
  static Json parse(const std::string& text);

  Type type() const { return type_; }
  bool isNull() const { return type_ == Type::kNull; }
  const std::string& str() const;
  double number() const;
  uint64_t u64() const;
  bool boolean() const;
  const std::vector<Json>& array() const;
  bool has(const std::string& key) const;
  // Object member; throws when missing.
  const Json& operator[](const std::string& key) const;
  const Json& operator[](size_t index) const { return array().at(index); }

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  std::string text_;  // string value, or the number as written
  std::vector<Json> array_;
  std::map<std::string, Json> object_;
  friend class JsonParser;
};

}  // namespace virtscratch::test
