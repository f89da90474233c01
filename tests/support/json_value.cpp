#include "tests/support/json_value.h"

#include <stdexcept>

namespace virtscratch::test {

class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  Json document() {
    Json v = value();
    skipSpace();
    if (i_ != s_.size()) fail("trailing characters");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    throw std::runtime_error("JSON: " + why + " at offset " + std::to_string(i_) +
                             " in: " + s_.substr(0, 200));
  }
  void skipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool consume(const std::string& word) {
    if (s_.compare(i_, word.size(), word) == 0) {
      i_ += word.size();
      return true;
    }
    return false;
  }
  std::string string() {
    if (s_[i_] != '"') fail("expected a string");
    ++i_;
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("bad escape");
      char e = s_[i_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          auto code = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
          if (code < 0x80) {
            out += static_cast<char>(code);
          } else if (code < 0x800) {
            out += static_cast<char>(0xc0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3f));
          } else {
            out += static_cast<char>(0xe0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code & 0x3f));
          }
          break;
        }
        default:
          out += e;
      }
    }
    if (i_ >= s_.size()) fail("unterminated string");
    ++i_;
    return out;
  }
  Json value() {
    skipSpace();
    if (i_ >= s_.size()) fail("unexpected end");
    Json v;
    char c = s_[i_];
    if (c == '{') {
      v.type_ = Json::Type::kObject;
      ++i_;
      skipSpace();
      if (s_[i_] == '}') {
        ++i_;
        return v;
      }
      while (true) {
        skipSpace();
        std::string key = string();
        skipSpace();
        if (s_[i_++] != ':') fail("expected ':'");
        v.object_[key] = value();
        skipSpace();
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_++] != '}') fail("expected '}'");
        return v;
      }
    }
    if (c == '[') {
      v.type_ = Json::Type::kArray;
      ++i_;
      skipSpace();
      if (s_[i_] == ']') {
        ++i_;
        return v;
      }
      while (true) {
        v.array_.push_back(value());
        skipSpace();
        if (s_[i_] == ',') {
          ++i_;
          continue;
        }
        if (s_[i_++] != ']') fail("expected ']'");
        return v;
      }
    }
    if (c == '"') {
      v.type_ = Json::Type::kString;
      v.text_ = string();
      return v;
    }
    if (consume("true")) {
      v.type_ = Json::Type::kBool;
      v.bool_ = true;
      return v;
    }
    if (consume("false")) {
      v.type_ = Json::Type::kBool;
      return v;
    }
    if (consume("null")) return v;
    size_t start = i_;
    while (i_ < s_.size() && std::string("+-0123456789.eE").find(s_[i_]) != std::string::npos) ++i_;
    if (start == i_) fail("unexpected character");
    v.type_ = Json::Type::kNumber;
    v.text_ = s_.substr(start, i_ - start);
    return v;
  }

  const std::string& s_;
  size_t i_ = 0;
};

Json Json::parse(const std::string& text) { return JsonParser(text).document(); }

const std::string& Json::str() const {
  if (type_ != Type::kString) throw std::runtime_error("JSON value is not a string");
  return text_;
}
double Json::number() const {
  if (type_ != Type::kNumber) throw std::runtime_error("JSON value is not a number");
  return std::stod(text_);
}
uint64_t Json::u64() const {
  if (type_ != Type::kNumber) throw std::runtime_error("JSON value is not a number");
  return std::stoull(text_);
}
bool Json::boolean() const {
  if (type_ != Type::kBool) throw std::runtime_error("JSON value is not a boolean");
  return bool_;
}
const std::vector<Json>& Json::array() const {
  if (type_ != Type::kArray) throw std::runtime_error("JSON value is not an array");
  return array_;
}
bool Json::has(const std::string& key) const { return object_.contains(key); }
const Json& Json::operator[](const std::string& key) const {
  auto it = object_.find(key);
  if (it == object_.end()) throw std::runtime_error("JSON object has no member '" + key + "'");
  return it->second;
}

}  // namespace virtscratch::test
