// Small SVG chart writers for the HTML report: each returns one <svg> element with fixed
// pixel sizes, numbers printed with a fixed precision (deterministic bytes), text escaped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tinyc::svg {

std::string escape(const std::string& text);  // &, <, >, " for HTML and SVG text

struct Series {
  std::string name;
  std::string color;
  std::vector<double> x, y;
};

// Lines with point markers over shared axes, with a legend. Empty series are skipped.
std::string line_chart(const std::string& title, const std::string& x_label,
                       const std::string& y_label, const std::vector<Series>& series);

// One horizontal bar per label, with its value printed after the bar.
std::string bar_chart(const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& values, const std::string& color);

// Pairs of bars (before, after) per group.
std::string paired_bars(const std::string& title, const std::vector<std::string>& groups,
                        const std::vector<double>& before, const std::vector<double>& after);

// counts[true][predicted], shaded by the row's share; the count in each cell.
std::string confusion_matrix(const std::vector<std::vector<int64_t>>& counts,
                             const std::vector<std::string>& labels);

// Points (true, predicted) and the y = x diagonal.
std::string scatter(const std::string& title, const std::vector<double>& truth,
                    const std::vector<double>& predicted);

struct Block {
  std::string label;
  int64_t offset = 0, bytes = 0;
  int first = 0, last = 0;  // steps, inclusive
};
// Memory map over time: x = step (0 .. steps - 1), y = arena byte offset.
std::string arena_timeline(const std::vector<Block>& blocks, int steps, int64_t arena_bytes,
                           const std::vector<std::string>& step_names);

}  // namespace tinyc::svg
