// A strict JSON reader (RFC 8259) for checking model-runner's --json output:
// parses one value, refuses anything malformed or trailing.
#pragma once

#include <cctype>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::test {

struct Json {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::map<std::string, Json> object;

  bool has(const std::string& key) const { return kind == Kind::Object && object.count(key) != 0; }
  const Json& at(const std::string& key) const {
    if (!has(key)) throw std::runtime_error("JSON object has no key '" + key + "'");
    return object.at(key);
  }
};

class JsonReader {
 public:
  // Throws std::runtime_error (with the offset) on invalid JSON.
  static Json parse(const std::string& text) {
    JsonReader r(text);
    r.utf8();
    r.space();
    Json v = r.value(0);
    r.space();
    if (r.pos_ != text.size()) r.fail("trailing characters after the value");
    return v;
  }

 private:
  explicit JsonReader(const std::string& t) : t_(t) {}

  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("invalid JSON at offset " + std::to_string(pos_) + ": " + why);
  }
  // JSON text is UTF-8: every byte sequence must be well formed.
  void utf8() {
    for (size_t i = 0; i < t_.size();) {
      auto b = [&](size_t k) { return k < t_.size() ? static_cast<unsigned char>(t_[k]) : 0u; };
      unsigned c = b(i);
      size_t len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
      if (len == 0) { pos_ = i; fail("not UTF-8"); }
      unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80, hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
      for (size_t k = 1; k < len; ++k) {
        unsigned d = b(i + k);
        if (d < (k == 1 ? lo : 0x80) || d > (k == 1 ? hi : 0xBF)) { pos_ = i; fail("not UTF-8"); }
      }
      i += len;
    }
    pos_ = 0;
  }
  char peek() const { return pos_ < t_.size() ? t_[pos_] : '\0'; }
  void space() {
    while (pos_ < t_.size() && (t_[pos_] == ' ' || t_[pos_] == '\t' || t_[pos_] == '\n' || t_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  void literal(const char* word) {
    for (const char* p = word; *p; ++p) expect(*p);
  }

  Json value(int depth) {
    if (depth > 64) fail("nesting too deep");
    Json v;
    char c = peek();
    if (c == '{') {
      v.kind = Json::Kind::Object;
      ++pos_;
      space();
      if (peek() == '}') { ++pos_; return v; }
      while (true) {
        space();
        if (peek() != '"') fail("expected a string key");
        std::string key = string_body();
        space();
        expect(':');
        space();
        if (v.object.count(key)) fail("duplicate key '" + key + "'");
        v.object[key] = value(depth + 1);
        space();
        if (peek() == ',') { ++pos_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Json::Kind::Array;
      ++pos_;
      space();
      if (peek() == ']') { ++pos_; return v; }
      while (true) {
        space();
        v.array.push_back(value(depth + 1));
        space();
        if (peek() == ',') { ++pos_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Json::Kind::String;
      v.string = string_body();
      return v;
    }
    if (c == 't') { literal("true"); v.kind = Json::Kind::Bool; v.boolean = true; return v; }
    if (c == 'f') { literal("false"); v.kind = Json::Kind::Bool; return v; }
    if (c == 'n') { literal("null"); return v; }
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    fail("unexpected character");
  }

  Json number() {
    size_t start = pos_;
    auto digits = [&] {
      size_t s = pos_;
      while (peek() >= '0' && peek() <= '9') ++pos_;
      if (pos_ == s) fail("expected digits");
    };
    if (peek() == '-') ++pos_;
    if (peek() == '0') ++pos_;
    else digits();
    if (peek() == '.') { ++pos_; digits(); }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    Json v;
    v.kind = Json::Kind::Number;
    v.number = std::strtod(t_.substr(start, pos_ - start).c_str(), nullptr);
    return v;
  }

  std::string string_body() {
    expect('"');
    std::string s;
    while (true) {
      if (pos_ >= t_.size()) fail("unterminated string");
      char c = t_[pos_++];
      if (c == '"') return s;
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string");
      if (c != '\\') { s += c; continue; }
      char e = peek();
      ++pos_;
      switch (e) {
        case '"': s += '"'; break;
        case '\\': s += '\\'; break;
        case '/': s += '/'; break;
        case 'b': s += '\b'; break;
        case 'f': s += '\f'; break;
        case 'n': s += '\n'; break;
        case 'r': s += '\r'; break;
        case 't': s += '\t'; break;
        case 'u': {
          for (int i = 0; i < 4; ++i)
            if (!std::isxdigit(static_cast<unsigned char>(peek()))) fail("bad \\u escape");
            else ++pos_;
          s += '?';  // the checker needs validity, not the code point
          break;
        }
        default: fail("bad escape");
      }
    }
  }

  const std::string& t_;
  size_t pos_ = 0;
};

}  // namespace kiln::test
