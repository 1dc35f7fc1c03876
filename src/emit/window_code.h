// Shared by the float and int8 window kernels (conv2d, depthwise_conv2d, pools): the loops
// over output pixels and the bounds of each window clipped to the image, as readable C++.
#pragma once

#include <string>

#include <fmt/format.h>

#include "emit/code_writer.h"
#include "layers/window.h"

namespace tinyc {

inline Shape sample(const Shape& s) { return Shape(s.begin() + 1, s.end()); }

// The window's loop bounds along one axis, as C++ expressions of the generated code.
struct AxisBounds {
  std::string lo = "0";  // first in-image tap: "0" or "ky0"
  std::string hi;        // one past the last: the kernel size or "ky1"
  bool clip = false;     // some windows leave the image along this axis
  bool clipped() const { return clip; }
  std::string extent() const { return lo == "0" ? hi : fmt::format("{} - {}", hi, lo); }
};

// Writes `const int iy0 = oy * stride - pad;` and, where the window can leave the image,
// `ky0`/`ky1`: the taps that fall inside it. `o`/`i`/`k` name the axis ("oy", "iy", "ky").
inline AxisBounds axis_bounds(CodeWriter& src, const char* o, const char* i, const char* k,
                              int stride, int pad, int kernel, int in, int out) {
  std::string start = stride == 1 ? std::string(o) : fmt::format("{} * {}", o, stride);
  if (pad > 0) start += fmt::format(" - {}", pad);
  src.linef("const int {}0 = {};", i, start);
  AxisBounds b;
  b.hi = std::to_string(kernel);
  if (pad > 0) {
    src.linef("const int {0}0 = {1}0 < 0 ? -{1}0 : 0;", k, i);
    b.lo = fmt::format("{}0", k);
    b.clip = true;
  }
  if ((out - 1) * stride - pad + kernel > in) {
    src.linef("const int {0}1 = {1}0 + {2} > {3} ? {3} - {1}0 : {2};", k, i, kernel, in);
    b.hi = fmt::format("{}1", k);
    b.clip = true;
  }
  return b;
}

inline std::string plus(const std::string& a, const std::string& b) {
  return b == "0" ? a : a + " + " + b;
}

// `expr` in parentheses unless it is a single name or number.
inline std::string par(const std::string& expr) {
  return expr.find(' ') == std::string::npos ? expr : "(" + expr + ")";
}

// `expr * n`, or `expr` when n is 1 (one channel).
inline std::string times(const std::string& expr, int64_t n) {
  return n == 1 ? expr : fmt::format("{} * {}", par(expr), n);
}

inline std::string window_str(const Window& g, bool same) {
  return fmt::format("{}x{}, stride {}x{}, padding {} (top {}, left {})", g.k_h, g.k_w,
                     g.stride_h, g.stride_w, same ? "same" : "valid", g.pad_top, g.pad_left);
}

// Opens the loops over output pixels (y advances by `y_step` per pixel) and writes the window
// bounds; the caller writes the per-pixel body and closes two scopes.
inline void open_pixel_loops(CodeWriter& src, const Window& g, int64_t y_step, AxisBounds* by,
                             AxisBounds* bx) {
  src.open(fmt::format("for (int oy = 0; oy < {}; ++oy)", g.out_h));
  *by = axis_bounds(src, "oy", "iy", "ky", g.stride_h, g.pad_top, g.k_h, g.in_h, g.out_h);
  src.open(fmt::format("for (int ox = 0; ox < {}; ++ox, y += {})", g.out_w, y_step));
  *bx = axis_bounds(src, "ox", "ix", "kx", g.stride_w, g.pad_left, g.k_w, g.in_w, g.out_w);
}

}  // namespace tinyc
