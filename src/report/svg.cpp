// SVG chart writers of the HTML report (see svg.h). Plain SVG 1.1 elements only; hover text
// comes from <title> children, so the page needs no script.
#include "report/svg.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tinyc::svg {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                    "#9467bd", "#8c564b", "#e377c2", "#17becf"};
constexpr int kWidth = 640;

// Numbers in the page: short, fixed precision, no "-0".
std::string num(double v) {
  if (std::fabs(v) < 1e-12) return "0";
  // Counts (parameters, MACs, bytes) in full; other values with four significant digits.
  if (std::fabs(v) < 1e15 && v == std::floor(v)) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{:.4g}", v);
}
std::string px(double v) { return fmt::format("{:.1f}", v); }

std::string open_svg(int width, int height, const std::string& title) {
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "role=\"img\" aria-label=\"{}\">\n",
      width, height, width, height, escape(title));
  s += fmt::format("<text x=\"{}\" y=\"18\" class=\"title\" text-anchor=\"middle\">{}</text>\n",
                   width / 2, escape(title));
  return s;
}

// Axis range with "nice" ticks (1, 2 or 5 times a power of ten).
struct Axis {
  double lo = 0, hi = 1, step = 0.2;
  double map(double v, double a, double b) const { return a + (v - lo) / (hi - lo) * (b - a); }
};

Axis nice_axis(double lo, double hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::fabs(lo) * 0.1, 1e-3);
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / 5.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double f : {1.0, 2.0, 5.0, 10.0}) {
    step = f * mag;
    if (step >= raw) break;
  }
  Axis a;
  a.step = step;
  a.lo = std::floor(lo / step) * step;
  a.hi = std::ceil(hi / step) * step;
  return a;
}

// Frame, grid lines and tick labels of an x/y plot area [x0, x1] x [y0, y1] (y0 at the top).
std::string axes(const Axis& ax, const Axis& ay, double x0, double x1, double y0, double y1,
                 const std::string& x_label, const std::string& y_label) {
  std::string s;
  for (double v = ay.lo; v <= ay.hi + ay.step * 0.5; v += ay.step) {
    const double y = ay.map(v, y1, y0);
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"grid\"/>\n", px(x0),
                     px(y), px(x1), px(y));
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", px(x0 - 4),
                     px(y + 4), num(v));
  }
  for (double v = ax.lo; v <= ax.hi + ax.step * 0.5; v += ax.step) {
    const double x = ax.map(v, x0, x1);
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"grid\"/>\n", px(x),
                     px(y0), px(x), px(y1));
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", px(x),
                     px(y1 + 16), num(v));
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"frame\"/>\n",
                   px(x0), px(y0), px(x1 - x0), px(y1 - y0));
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                   px((x0 + x1) / 2), px(y1 + 34), escape(x_label));
  s += fmt::format("<text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">"
                   "{}</text>\n", px((y0 + y1) / 2), px((y0 + y1) / 2), escape(y_label));
  return s;
}

}  // namespace

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string line_chart(const std::string& title, const std::string& x_label,
                       const std::string& y_label, const std::vector<Series>& series) {
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const Series& se : series) {
    for (size_t i = 0; i < se.x.size(); ++i) {
      if (!std::isfinite(se.y[i])) continue;
      xlo = std::min(xlo, se.x[i]), xhi = std::max(xhi, se.x[i]);
      ylo = std::min(ylo, se.y[i]), yhi = std::max(yhi, se.y[i]);
    }
  }
  const Axis ax = nice_axis(xlo, xhi), ay = nice_axis(std::min(ylo, 0.0), yhi);
  const int height = 300;
  const double x0 = 60, x1 = kWidth - 130, y0 = 30, y1 = height - 45;
  std::string s = open_svg(kWidth, height, title) + axes(ax, ay, x0, x1, y0, y1, x_label, y_label);
  int legend = 0;
  for (const Series& se : series) {
    if (se.x.empty()) continue;
    std::string points;
    std::string dots;
    for (size_t i = 0; i < se.x.size(); ++i) {
      if (!std::isfinite(se.y[i])) continue;
      const double x = ax.map(se.x[i], x0, x1), y = ay.map(se.y[i], y1, y0);
      points += (points.empty() ? "" : " ") + px(x) + "," + px(y);
      dots += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"2.5\" fill=\"{}\"><title>{} {}: {}"
                          "</title></circle>\n", px(x), px(y), se.color, escape(se.name),
                          num(se.x[i]), num(se.y[i]));
    }
    s += fmt::format("<polyline class=\"series\" points=\"{}\" fill=\"none\" stroke=\"{}\" "
                     "stroke-width=\"2\"/>\n", points, se.color);
    s += dots;
    const double ly = y0 + 10 + 18 * legend++;
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"4\" fill=\"{}\"/>\n", px(x1 + 12),
                     px(ly - 4), se.color);
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", px(x1 + 32), px(ly + 1), escape(se.name));
  }
  return s + "</svg>\n";
}

std::string bar_chart(const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& values, const std::string& color) {
  const double vmax = values.empty() ? 1.0 : std::max(1.0, *std::max_element(values.begin(), values.end()));
  const int row = 20;
  const int height = 40 + row * static_cast<int>(labels.size());
  const double x0 = 150, x1 = kWidth - 90;
  std::string s = open_svg(kWidth, height, title);
  for (size_t i = 0; i < labels.size(); ++i) {
    const double y = 30 + row * static_cast<double>(i);
    const double w = std::max(0.0, values[i]) / vmax * (x1 - x0);
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", px(x0 - 6),
                     px(y + 13), escape(labels[i]));
    s += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
                     "<title>{}: {}</title></rect>\n", px(x0), px(y + 2), px(w), row - 5, color,
                     escape(labels[i]), num(values[i]));
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", px(x0 + w + 4), px(y + 13),
                     num(values[i]));
  }
  return s + "</svg>\n";
}

std::string paired_bars(const std::string& title, const std::vector<std::string>& groups,
                        const std::vector<double>& before, const std::vector<double>& after) {
  const int row = 20;
  const int height = 60 + 2 * row * static_cast<int>(groups.size());
  const double x0 = 150, x1 = kWidth - 90;
  std::string s = open_svg(kWidth, height, title);
  for (size_t g = 0; g < groups.size(); ++g) {
    const double vmax = std::max({before[g], after[g], 1e-12});
    for (int k = 0; k < 2; ++k) {
      const double v = k == 0 ? before[g] : after[g];
      const double y = 30 + row * static_cast<double>(2 * g + static_cast<size_t>(k));
      const double w = std::max(0.0, v) / vmax * (x1 - x0);
      const char* which = k == 0 ? "before" : "after";
      s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{} {}</text>\n", px(x0 - 6),
                       px(y + 13), escape(groups[g]), which);
      s += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
                       "fill=\"{}\"><title>{} {}: {}</title></rect>\n", px(x0), px(y + 2), px(w),
                       row - 5, kPalette[k], escape(groups[g]), which, num(v));
      s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", px(x0 + w + 4), px(y + 13), num(v));
    }
  }
  return s + "</svg>\n";
}

std::string confusion_matrix(const std::vector<std::vector<int64_t>>& counts,
                             const std::vector<std::string>& labels) {
  const int n = static_cast<int>(counts.size());
  const int cell = std::max(18, std::min(44, 440 / std::max(1, n)));
  const int x0 = 110, y0 = 100;  // room for the rotated column labels under the title
  const int width = std::max(kWidth, x0 + cell * n + 20), height = y0 + cell * n + 50;
  std::string s = open_svg(width, height, "Confusion matrix (rows: true class, columns: predicted)");
  auto name = [&](int i) {
    return static_cast<size_t>(i) < labels.size() ? labels[static_cast<size_t>(i)] : std::to_string(i);
  };
  for (int t = 0; t < n; ++t) {
    int64_t row_total = 0;
    for (int64_t c : counts[static_cast<size_t>(t)]) row_total += c;
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", x0 - 6,
                     y0 + t * cell + cell / 2 + 4, escape(name(t)));
    for (int p = 0; p < n; ++p) {
      const int64_t c = counts[static_cast<size_t>(t)][static_cast<size_t>(p)];
      const double share = row_total ? static_cast<double>(c) / static_cast<double>(row_total) : 0.0;
      // Diagonal in blue, confusions in red; the shade is the share of the true class's rows.
      const int shade = static_cast<int>(std::lround(255.0 - 200.0 * share));
      const std::string fill = t == p ? fmt::format("rgb({},{},255)", shade, shade)
                                      : fmt::format("rgb(255,{},{})", shade, shade);
      s += fmt::format("<rect class=\"cell\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" "
                       "fill=\"{}\"><title>true {}, predicted {}: {}</title></rect>\n",
                       x0 + p * cell, y0 + t * cell, cell, cell, fill, escape(name(t)),
                       escape(name(p)), c);
      if (c > 0 && cell >= 24) {
        s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"small\">{}</text>\n",
                         x0 + p * cell + cell / 2, y0 + t * cell + cell / 2 + 4, c);
      }
    }
  }
  for (int p = 0; p < n; ++p) {
    const int x = x0 + p * cell + cell / 2, y = y0 - 6;
    s += fmt::format("<text x=\"{}\" y=\"{}\" transform=\"rotate(-45 {} {})\">{}</text>\n", x, y, x,
                     y, escape(name(p)));
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"frame\"/>\n", x0, y0,
                   cell * n, cell * n);
  return s + "</svg>\n";
}

std::string scatter(const std::string& title, const std::vector<double>& truth,
                    const std::vector<double>& predicted) {
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < truth.size(); ++i) {
    lo = std::min({lo, truth[i], predicted[i]});
    hi = std::max({hi, truth[i], predicted[i]});
  }
  const Axis a = nice_axis(lo, hi);
  const int height = 420;
  const double x0 = 60, x1 = 60 + 340, y0 = 30, y1 = 30 + 340;
  std::string s = open_svg(kWidth, height, title) + axes(a, a, x0, x1, y0, y1, "true", "predicted");
  s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"diagonal\"/>\n", px(x0),
                   px(y1), px(x1), px(y0));
  for (size_t i = 0; i < truth.size(); ++i) {
    s += fmt::format("<circle class=\"point\" cx=\"{}\" cy=\"{}\" r=\"2\"/>\n",
                     px(a.map(truth[i], x0, x1)), px(a.map(predicted[i], y1, y0)));
  }
  return s + "</svg>\n";
}

std::string arena_timeline(const std::vector<Block>& blocks, int steps, int64_t arena_bytes,
                           const std::vector<std::string>& step_names) {
  const int height = 360;
  const double x0 = 80, x1 = kWidth - 20, y0 = 30, y1 = height - 60;
  const Axis ay = nice_axis(0, static_cast<double>(std::max<int64_t>(arena_bytes, 1)));
  const double step_w = (x1 - x0) / std::max(1, steps);
  std::string s = open_svg(kWidth, height, "Arena timeline: which buffer lives where, when");
  for (double v = ay.lo; v <= ay.hi + ay.step * 0.5; v += ay.step) {
    const double y = ay.map(v, y1, y0);
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"grid\"/>\n", px(x0),
                     px(y), px(x1), px(y));
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", px(x0 - 4),
                     px(y + 4), num(v));
  }
  for (int k = 0; k < steps; ++k) {
    const double x = x0 + step_w * (k + 0.5);
    const auto at = static_cast<size_t>(k);
    const std::string label = at < step_names.size() ? step_names[at] : "";
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}<title>step {}: {}</title>"
                     "</text>\n", px(x), px(y1 + 16), k, k, escape(label));
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    const Block& b = blocks[i];
    const double x = x0 + step_w * b.first, w = step_w * (b.last - b.first + 1);
    const double ytop = ay.map(static_cast<double>(b.offset + b.bytes), y1, y0);
    const double h = std::max(1.0, ay.map(static_cast<double>(b.offset), y1, y0) - ytop);
    s += fmt::format("<rect class=\"buffer\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">"
                     "<title>{}: bytes [{}, {}), steps {}-{}</title></rect>\n", px(x + 1), px(ytop),
                     px(w - 2), px(h), kPalette[i % 8], escape(b.label), b.offset, b.offset + b.bytes,
                     b.first, b.last);
    if (h >= 12 && w >= 40) {
      const std::string text = b.label.substr(0, static_cast<size_t>(w / 7));  // what fits
      s += fmt::format("<text x=\"{}\" y=\"{}\" class=\"small inv\">{}</text>\n", px(x + 4),
                       px(ytop + std::min(h, 24.0) / 2 + 4), escape(text));
    }
  }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" class=\"frame\"/>\n", px(x0),
                   px(y0), px(x1 - x0), px(y1 - y0));
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step (0: preprocessing, "
                   "k: layer k - 1)</text>\n", px((x0 + x1) / 2), px(y1 + 36));
  s += fmt::format("<text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">"
                   "arena offset (bytes)</text>\n", px((y0 + y1) / 2), px((y0 + y1) / 2));
  return s + "</svg>\n";
}

}  // namespace tinyc::svg
