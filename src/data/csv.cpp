// CSV data sets: a hand-rolled reader (a 60000x785 file must load in well under a second, so
// no per-cell allocation and no streams) and an atomic writer.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "tinyc/data.h"
#include "tinyc/error.h"
#include "tinyc/fileio.h"
#include "tinyc/limits.h"

namespace tinyc {
namespace {

// What a column of the file becomes.
enum class Role : uint8_t { kFeature, kLabel, kSplit };

enum class NumberStatus { kOk, kNotNumber, kNonFinite };

// Longest cell text quoted in an error message; longer cells are cut with "...".
constexpr size_t kMaxQuotedCell = 40;
// Most column names listed when --label names a missing column.
constexpr size_t kMaxListedColumns = 20;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

// Spreadsheets quote header names; the enclosing quotes are not part of the name.
std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

std::string quoted(std::string_view cell) {
  if (cell.size() <= kMaxQuotedCell) return fmt::format("'{}'", cell);
  return fmt::format("'{}...'", cell.substr(0, kMaxQuotedCell));
}

// Parses one trimmed cell. Plain integers (pixel values, class labels) take a fast path;
// int -> float conversion rounds correctly, so it agrees with from_chars.
NumberStatus parse_number(std::string_view cell, float* out) {
  cell = unquote(cell);
  const char* b = cell.data();
  const char* e = b + cell.size();
  if (b == e) return NumberStatus::kNotNumber;
  {
    const char* p = b;
    const bool negative = *p == '-';
    if (negative) ++p;
    if (p < e && e - p <= 9) {
      int32_t v = 0;
      const char* q = p;
      while (q < e && static_cast<unsigned>(*q - '0') < 10u) v = v * 10 + (*q++ - '0');
      if (q == e) {
        // Negating the float (not the int) keeps "-0" as -0.0f, so write_csv round-trips.
        *out = negative ? -static_cast<float>(v) : static_cast<float>(v);
        return NumberStatus::kOk;
      }
    }
  }
  // from_chars rejects a leading '+', which other tools write for exponents and signs.
  if (*b == '+' && e - b > 1 && (b[1] == '.' || static_cast<unsigned>(b[1] - '0') < 10u)) ++b;
  float v = 0.0f;
  const auto [ptr, ec] = std::from_chars(b, e, v);
  if (ptr != e) return NumberStatus::kNotNumber;
  if (ec == std::errc::result_out_of_range) {
    // Overflow is an error, underflow is not: strtod tells them apart.
    const std::string copy(b, e);
    const double d = std::strtod(copy.c_str(), nullptr);
    if (std::isinf(d) || std::fabs(d) > 3.4028234663852886e38) {
      *out = d < 0 ? -HUGE_VALF : HUGE_VALF;
      return NumberStatus::kNonFinite;
    }
    v = static_cast<float>(d);
  } else if (ec != std::errc()) {
    return NumberStatus::kNotNumber;
  }
  *out = v;
  return std::isfinite(v) ? NumberStatus::kOk : NumberStatus::kNonFinite;
}

// Walks the file line by line, remembering where it is for error messages.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {
    // A UTF-8 byte order mark (spreadsheet exports) is not part of the first cell.
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
  }
  // Next line without its terminator (CR LF or LF); false at the end of the text.
  bool next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    const char* start = text_.data() + pos_;
    const void* nl = std::memchr(start, '\n', text_.size() - pos_);
    const size_t len = nl ? static_cast<size_t>(static_cast<const char*>(nl) - start)
                          : text_.size() - pos_;
    pos_ += len + 1;
    ++line_number_;
    *line = std::string_view(start, len);
    if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
    return true;
  }
  int64_t line_number() const { return line_number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_number_ = 0;
};

bool is_blank_line(std::string_view line) { return trim(line).empty(); }

// Splits a line at commas into trimmed cells, keeping each cell's 1-based character column.
void split_cells(std::string_view line, std::vector<std::string_view>* cells,
                 std::vector<int64_t>* columns) {
  cells->clear();
  columns->clear();
  size_t start = 0;
  for (;;) {
    size_t end = line.find(',', start);
    if (end == std::string_view::npos) end = line.size();
    std::string_view raw = line.substr(start, end - start);
    size_t lead = 0;
    while (lead < raw.size() && is_blank(raw[lead])) ++lead;
    cells->push_back(trim(raw));
    columns->push_back(static_cast<int64_t>(start + lead) + 1);
    if (end == line.size()) break;
    start = end + 1;
  }
}

std::string list_columns(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < kMaxListedColumns; ++i) {
    if (i) out += ", ";
    out += names[i];
  }
  if (names.size() > kMaxListedColumns) {
    out += fmt::format(", ... and {} more", names.size() - kMaxListedColumns);
  }
  return out;
}

int find_column(const std::vector<std::string>& names, const std::string& name) {
  const auto it = std::find(names.begin(), names.end(), name);
  return it == names.end() ? -1 : static_cast<int>(it - names.begin());
}

// A column chosen by name must be unambiguous.
void check_unique(const std::string& path, const std::vector<std::string>& names,
                  const std::vector<int64_t>& columns, int index, int64_t line) {
  for (size_t i = static_cast<size_t>(index) + 1; i < names.size(); ++i) {
    if (names[i] == names[static_cast<size_t>(index)]) {
      bad_input("{}:{}:{}: column name '{}' appears twice (columns {} and {}; rename one)", path,
                line, columns[i], names[i], index + 1, i + 1);
    }
  }
}

// Reads the data rows once the column roles are known.
class RowParser {
 public:
  RowParser(const std::string& path, std::vector<Role> roles,
            const std::vector<std::string>& names, Dataset* data)
      : path_(path), roles_(std::move(roles)), names_(names), data_(data) {}

  void parse(std::string_view line, int64_t line_number) {
    float* x = next_row();
    const char* const begin = line.data();
    const char* const end = begin + line.size();
    const char* p = begin;
    size_t column = 0;
    float label = 0.0f;
    SplitTag tag = SplitTag::kNone;
    for (;;) {
      if (column < roles_.size() && roles_[column] != Role::kSplit) {
        // Fast path for the common cell, a plain integer right before the comma (pixels, class
        // labels): parsed in the same pass that finds the comma. Anything else falls through.
        const char* q = p;
        const bool negative = q < end && *q == '-';
        if (negative) ++q;
        const char* const digits = q;
        uint32_t v = 0;
        while (q < end && q - digits < 9 && static_cast<unsigned>(*q - '0') < 10u) {
          v = v * 10 + static_cast<uint32_t>(*q++ - '0');
        }
        if (q > digits && (q == end || *q == ',')) {
          const float value = negative ? -static_cast<float>(v) : static_cast<float>(v);
          if (roles_[column] == Role::kFeature) {
            *x++ = value;
          } else {
            label = value;
          }
          ++column;
          if (q == end) break;
          p = q + 1;
          continue;
        }
      }
      const char* q = p;
      while (q < end && *q != ',') ++q;
      const char* b = p;
      while (b < q && is_blank(*b)) ++b;
      const char* e = q;
      while (e > b && is_blank(e[-1])) --e;
      if (column >= roles_.size()) {
        const auto got = std::count(begin, end, ',') + 1;
        bad_input("{}:{}:{}: row has {} columns, expected {} (every row needs as many values as "
                  "{})",
                  path_, line_number, b - begin + 1, got, roles_.size(), reference_row());
      }
      const std::string_view cell(b, static_cast<size_t>(e - b));
      const int64_t char_column = b - begin + 1;
      switch (roles_[column]) {
        case Role::kFeature: number(cell, line_number, char_column, column, x++); break;
        case Role::kLabel: number(cell, line_number, char_column, column, &label); break;
        case Role::kSplit: tag = split_tag(cell, line_number, char_column); break;
      }
      ++column;
      if (q == end) break;
      p = q + 1;
    }
    if (column != roles_.size()) {
      bad_input("{}:{}:{}: row has {} columns, expected {} (every row needs as many values as {})",
                path_, line_number, line.size() + 1, column, roles_.size(), reference_row());
    }
    data_->y.push_back(label);
    data_->split.push_back(tag);
    data_->source_line.push_back(line_number);
    ++data_->rows;
  }

 private:
  // The caller reserved room for every line, so growing by one row never reallocates.
  float* next_row() {
    const auto f = static_cast<size_t>(data_->features);
    const size_t need = static_cast<size_t>(data_->rows + 1) * f;
    data_->x.resize(need);
    return data_->x.data() + need - f;
  }

  const char* reference_row() const { return names_.empty() ? "the first row" : "the header"; }

  std::string column_name(size_t column) const {
    if (column < names_.size()) return fmt::format("column {} '{}'", column + 1, names_[column]);
    return fmt::format("column {}", column + 1);
  }

  void number(std::string_view cell, int64_t line, int64_t char_column, size_t column,
              float* out) const {
    switch (parse_number(cell, out)) {
      case NumberStatus::kOk: return;
      case NumberStatus::kNonFinite:
        bad_input("{}:{}:{}: {} value {} in {} (NaN and Inf are not allowed: remove or impute the "
                  "row)",
                  path_, line, char_column, std::isnan(*out) ? "NaN" : "infinite", quoted(cell),
                  column_name(column));
      case NumberStatus::kNotNumber:
        if (cell.empty()) {
          bad_input("{}:{}:{}: missing value in {} (every cell must hold a number)", path_, line,
                    char_column, column_name(column));
        }
        bad_input("{}:{}:{}: non-numeric value {} in {} (features and labels must be numbers)",
                  path_, line, char_column, quoted(cell), column_name(column));
    }
  }

  SplitTag split_tag(std::string_view cell, int64_t line, int64_t char_column) const {
    cell = unquote(cell);
    if (cell == "train") return SplitTag::kTrain;
    if (cell == "val") return SplitTag::kVal;
    if (cell == "test") return SplitTag::kTest;
    // An empty cell leaves the row to the spec's fractions (write_csv writes untagged rows so).
    if (cell.empty()) return SplitTag::kNone;
    bad_input("{}:{}:{}: split value {} is not train, val or test (fix the split column)", path_,
              line, char_column, quoted(cell));
  }

  const std::string& path_;
  std::vector<Role> roles_;
  const std::vector<std::string>& names_;
  Dataset* data_;
};

// Decides which header column is the label; the split column is already known.
int choose_label(const std::string& path, const std::vector<std::string>& names,
                 const std::vector<int64_t>& columns, int split_column, int64_t line,
                 const CsvOptions& options) {
  int label = -1;
  if (!options.label.empty()) {
    label = find_column(names, options.label);
    if (label < 0) {
      bad_input("{}:{}:1: no column named '{}' for the label (columns: {})", path, line,
                options.label, list_columns(names));
    }
    if (label == split_column) {
      bad_input("{}:{}:{}: the split column cannot be the label (choose another --label)", path,
                line, columns[static_cast<size_t>(label)]);
    }
  } else {
    label = find_column(names, "label");
    if (label < 0) label = find_column(names, "target");
    if (label < 0) {
      for (int i = static_cast<int>(names.size()) - 1; i >= 0; --i) {
        if (i != split_column) {
          label = i;
          break;
        }
      }
    }
  }
  if (label >= 0) check_unique(path, names, columns, label, line);
  return label;
}

}  // namespace

Dataset load_csv(const std::string& path, const CsvOptions& options) {
  return parse_csv(read_file(path), path, options);
}

Dataset parse_csv(const std::string& text, const std::string& path, const CsvOptions& options) {
  LineReader reader(text);
  std::string_view line;
  while (reader.next(&line) && is_blank_line(line)) {
  }
  if (is_blank_line(line)) {
    bad_input("{}:1:1: empty file (expected rows of comma-separated numbers, optionally after a "
              "header row)",
              path);
  }
  const int64_t first_line = reader.line_number();

  std::vector<std::string_view> cells;
  std::vector<int64_t> columns;
  split_cells(line, &cells, &columns);
  bool has_header = false;
  for (const std::string_view cell : cells) {
    float unused = 0.0f;
    // NaN/Inf count as numbers here, so that a first data row holding them gets the NaN/Inf
    // error rather than being taken for a header.
    if (parse_number(cell, &unused) == NumberStatus::kNotNumber) has_header = true;
  }

  Dataset data;
  data.source = path;
  std::vector<std::string> names;
  std::vector<Role> roles(cells.size(), Role::kFeature);
  if (has_header) {
    for (const std::string_view cell : cells) names.emplace_back(unquote(cell));
    const int split_column = find_column(names, "split");
    if (split_column >= 0) {
      check_unique(path, names, columns, split_column, first_line);
      roles[static_cast<size_t>(split_column)] = Role::kSplit;
    }
    const int label = choose_label(path, names, columns, split_column, first_line, options);
    if (label < 0) {
      bad_input("{}:{}:1: the header has no label column, only 'split' (add feature and label "
                "columns)",
                path, first_line);
    }
    roles[static_cast<size_t>(label)] = Role::kLabel;
    data.label_name = names[static_cast<size_t>(label)];
    for (size_t i = 0; i < names.size(); ++i) {
      if (roles[i] == Role::kFeature) data.feature_names.push_back(names[i]);
    }
  } else {
    if (!options.label.empty()) {
      bad_input("{}:{}:1: --label '{}' needs a header row, and this file has none (the label is "
                "its last column)",
                path, first_line, options.label);
    }
    roles.back() = Role::kLabel;
  }
  const auto features = std::count(roles.begin(), roles.end(), Role::kFeature);
  if (features == 0) {
    bad_input("{}:{}:1: found {} column(s) but no feature column besides the label (tinyc reads "
              "comma-separated values)",
              path, first_line, cells.size());
  }
  data.features = features;
  data.sample_shape = {static_cast<int>(features)};

  // Reserve for the worst case (every remaining line a row) so the rows never reallocate.
  const auto lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  check_memory(static_cast<double>(lines) * (static_cast<double>(features) * sizeof(float) +
                                             sizeof(float) + sizeof(SplitTag) + sizeof(int64_t)),
               fmt::format("{}: {} lines of {} features", path, lines, features));
  data.x.reserve(lines * static_cast<size_t>(features));
  data.y.reserve(lines);
  data.split.reserve(lines);
  data.source_line.reserve(lines);

  RowParser parser(path, roles, names, &data);
  if (!has_header) parser.parse(line, first_line);
  while (reader.next(&line)) {
    // Blank lines (trailing newlines, spacing) carry no row.
    if (line.empty() || is_blank_line(line)) continue;
    parser.parse(line, reader.line_number());
  }
  if (data.rows == 0) {
    bad_input("{}:{}:1: no data rows after the header (add at least one row of values)", path,
              first_line + 1);
  }
  data.x.resize(static_cast<size_t>(data.rows * data.features));
  return data;
}

namespace {

// A name may be written to the header if the reader gives it back unchanged.
bool safe_name(const std::string& name) {
  if (name.empty() || name != std::string(trim(name))) return false;
  if (name.find_first_of(",\"\r\n") != std::string::npos) return false;
  float unused = 0.0f;
  return parse_number(name, &unused) == NumberStatus::kNotNumber;
}

const char* split_name(SplitTag tag) {
  switch (tag) {
    case SplitTag::kTrain: return "train";
    case SplitTag::kVal: return "val";
    case SplitTag::kTest: return "test";
    case SplitTag::kNone: return "";
  }
  return "";
}

}  // namespace

void write_csv(const Dataset& data, const std::string& path) {
  const auto features = static_cast<size_t>(data.features);
  // Keep the data's own names only when reading the file back picks the same label column:
  // no feature may be called label/target/split.
  bool own_names = data.feature_names.size() == features && safe_name(data.label_name) &&
                   data.label_name != "split";
  for (size_t i = 0; own_names && i < features; ++i) {
    const std::string& n = data.feature_names[i];
    own_names = safe_name(n) && n != "label" && n != "target" && n != "split";
  }
  const bool tagged = std::any_of(data.split.begin(), data.split.end(),
                                  [](SplitTag t) { return t != SplitTag::kNone; });

  fmt::memory_buffer out;
  for (size_t i = 0; i < features; ++i) {
    if (own_names) {
      fmt::format_to(std::back_inserter(out), "{},", data.feature_names[i]);
    } else {
      fmt::format_to(std::back_inserter(out), "x{},", i);
    }
  }
  fmt::format_to(std::back_inserter(out), "{}{}\n", own_names ? data.label_name : "label",
                 tagged ? ",split" : "");
  for (int64_t r = 0; r < data.rows; ++r) {
    const float* row = data.x.data() + static_cast<size_t>(r) * features;
    // fmt prints the shortest text that reads back as the same float (never fewer digits than
    // round-tripping needs), so files stay small and exact.
    for (size_t i = 0; i < features; ++i) fmt::format_to(std::back_inserter(out), "{},", row[i]);
    fmt::format_to(std::back_inserter(out), "{}", data.y[static_cast<size_t>(r)]);
    if (tagged) {
      const SplitTag tag = data.split[static_cast<size_t>(r)];
      fmt::format_to(std::back_inserter(out), ",{}", split_name(tag));
    }
    out.push_back('\n');
  }
  write_file_atomic(path, std::string(out.data(), out.size()));
}

}  // namespace tinyc
