// Writing readable C++ source: indentation, float literals that round-trip exactly, constant
// arrays wrapped to a line width, and C identifiers made from model names.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace tinyc {

class CodeWriter {
 public:
  // One line at the current indentation (an empty string gives an empty line).
  void line(const std::string& text = "");
  template <typename... Args>
  void linef(fmt::format_string<Args...> format, Args&&... args) {
    line(fmt::format(format, std::forward<Args>(args)...));
  }
  // "text {" and indent; "}" + suffix and dedent.
  void open(const std::string& text);
  void close(const std::string& suffix = "");
  // Raw text, no indentation added.
  void raw(const std::string& text) { out_ += text; }
  const std::string& str() const { return out_; }

 private:
  std::string out_;
  int depth_ = 0;
};

// The shortest decimal that reads back as the same float, as a float literal: "0.5f",
// "-3.0f", "1e-05f". Throws Error(kBadInput) naming `what` for NaN and infinity.
std::string float_literal(float v, const std::string& what);

// Element texts (already formatted) as a brace-enclosed initializer. With `rows` > 0 each of
// the `rows` rows is a nested brace list, so a 2-D array reads as a matrix; lines are
// wrapped at about 100 columns and indented by `indent` spaces.
std::string initializer(const std::vector<std::string>& items, int64_t rows, int indent);

// Makes a C identifier: characters other than [A-Za-z0-9_] become '_', a leading digit gets
// a '_' in front; unique within `used` (a numeric suffix is added when taken), then recorded.
std::string unique_identifier(const std::string& name, std::set<std::string>* used);
bool is_c_identifier(const std::string& name);

}  // namespace tinyc
