#include "emit/code_writer.h"

#include <cctype>
#include <cmath>

#include "tinyc/error.h"

namespace tinyc {

void CodeWriter::line(const std::string& text) {
  if (!text.empty()) out_.append(static_cast<size_t>(depth_) * 2, ' ');
  out_ += text;
  out_ += '\n';
}

void CodeWriter::open(const std::string& text) {
  line(text.empty() ? "{" : text + " {");
  ++depth_;
}

void CodeWriter::close(const std::string& suffix) {
  --depth_;
  line("}" + suffix);
}

std::string float_literal(float v, const std::string& what) {
  if (!std::isfinite(v)) bad_input("{}: value {} cannot be emitted as a constant", what, v);
  std::string s = fmt::format("{}", v);  // shortest round-trip representation
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s + "f";
}

std::string initializer(const std::vector<std::string>& items, int64_t rows, int indent) {
  constexpr size_t kWidth = 100;
  const std::string pad(static_cast<size_t>(indent), ' ');
  const size_t per_row = rows > 0 ? items.size() / static_cast<size_t>(rows) : items.size();
  auto wrap = [&](size_t begin, size_t end, const std::string& lead) {
    std::string out, cur = lead;
    for (size_t i = begin; i < end; ++i) {
      const std::string item = items[i] + (i + 1 < end ? "," : "");
      if (cur.size() > lead.size() && cur.size() + 1 + item.size() > kWidth) {
        out += cur + "\n";
        cur = lead;
      }
      cur += (cur.size() > lead.size() ? " " : "") + item;
    }
    return out + cur;
  };
  if (rows <= 0) return "{\n" + wrap(0, items.size(), pad + "  ") + "\n" + pad + "}";
  std::string out = "{\n";
  for (size_t r = 0; r < static_cast<size_t>(rows); ++r) {
    const std::string comma = r + 1 < static_cast<size_t>(rows) ? "," : "";
    std::string one_line = pad + "  {";
    for (size_t i = r * per_row; i < (r + 1) * per_row; ++i) {
      one_line += (i > r * per_row ? ", " : "") + items[i];
    }
    one_line += "}" + comma;
    if (one_line.size() <= kWidth) {
      out += one_line + "\n";
    } else {
      out += pad + "  {\n" + wrap(r * per_row, (r + 1) * per_row, pad + "    ") + "\n" + pad +
             "  }" + comma + "\n";
    }
  }
  return out + pad + "}";
}

bool is_c_identifier(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string unique_identifier(const std::string& name, std::set<std::string>* used) {
  std::string id;
  for (char c : name) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0]))) id = "_" + id;
  std::string candidate = id;
  for (int k = 2; used->count(candidate) != 0; ++k) candidate = id + "_" + std::to_string(k);
  used->insert(candidate);
  return candidate;
}

}  // namespace tinyc
