// int8 depthwise_conv2d for targets with the DSP extension (Cortex-M4/M7/M33), bit-exact with
// the int8 reference executor. Depthwise layers with one input channel run as a conv2d
// (kernels_int8_dsp.cpp); this file handles multiplier 1 over a multiple of 4 channels.
//
// The arithmetic lives in shared kernel functions, one per variant (window, stride, input
// shape, requantization form, whether the activation clamps inside int8), written once per
// file: layers of identical shapes share one (person_detect: 13 layers, 9 kernels). Each
// layer keeps its own `static void layerN_depthwise_conv2d(x, y)` that passes the kernel a
// `DepthwiseLayer` with its arrays and quantization constants. Shapes stay compile-time
// constants: with them as arguments (one kernel per window and stride) the code was 14.2 KB
// instead of 21 KB for person_detect, but GCC spilled the tap offsets and it ran 7% slower.
//
// Four channels per step: the input word of 4 channels is unpacked by SXTAB16 (subtracting
// the zero point) into (x0, x2) and (x1, x3), and SMLABB/SMLATT multiply them by weights
// stored at emit time as int16 pairs (w0, w2), (w1, w3) in the same order (no unpacking of
// weights at run time; twice the flash of int8 weights), grouped by channel group then tap
// so one pointer with immediate offsets reads a group's window. Pixels are written in raster
// order, each reading all of its inputs (per channel group) before writing its outputs, so
// the memory planner may overlap the output with the input.
#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit/window_code.h"
#include "layers/int8_util.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

bool dsp_depthwise_applies(const Target& t, const Model& m, const Op& op) {
  if (!t.dsp || op.type != OpType::kDepthwiseConv2d) return false;
  const int64_t c_in = m.tensor(op.inputs[0]).shape[3];
  return c_in > 1 && c_in % 4 == 0 && m.tensor(op.inputs[1]).shape[3] == c_in;
}

// The requantization helper: output_int8_doubled on doubled weights and bias where
// doubled_constants allows it (person_detect: every layer), else output_int8_folded where every
// multiplier is >= 0 and every shift in [-22, -2], else output_int8_hi (shifts in [-31, -1]),
// else output_int8.
enum class Requant { kDoubled, kFolded, kHi, kWide };

// What the shared kernel's code depends on (layers that agree on all of it share one);
// arrays and quantization constants are fields of DepthwiseLayer.
struct Variant {
  Window g;
  Requant requant = Requant::kFolded;
  bool clamp = false;  // the activation's range is narrower than int8
  bool negative_ties = true;  // kDoubled: the activation's lower bound is below the zero point
  std::string suffix() const {
    return std::string(requant == Requant::kDoubled ? (negative_ties ? "_ties" : "")
                       : requant == Requant::kFolded ? "_folded"
                       : requant == Requant::kHi     ? "_hi" : "_wide") +
           (clamp ? "_clamp" : "");
  }
  std::string name() const {
    return fmt::format("depthwise_{}x{}_s{}x{}_{}x{}x{}{}{}", g.k_h, g.k_w, g.stride_h, g.stride_w,
                       g.in_h, g.in_w, g.in_c, g.pad_top + g.pad_left > 0 ? "_same" : "", suffix());
  }
};

std::string minus(const std::string& a, int n) {
  return n == 0 ? a : fmt::format("{} - {}", a, n);
}

constexpr const char* kLayerStruct = "DepthwiseLayer";

void emit_layer_struct(EmitContext& ctx) {
  if (!ctx.ids.insert(kLayerStruct).second) return;
  CodeWriter& src = ctx.src;
  src.line("// One depthwise_conv2d layer for the shared DSP depthwise kernels (depthwise_KxK_sSxS).");
  src.open(fmt::format("struct {}", kLayerStruct));
  src.line("const int32_t* weights;     // per group of 4 channels, per tap: int16 pairs (w0, w2), (w1, w3)");
  src.line("const int32_t* channels;    // per channel: bias and 3 requantization constants");
  src.line("int32_t channel_count, row_bytes;  // the input's channels and bytes per row");
  src.line("int32_t offset;             // minus the input zero point, in both halves");
  src.line("int32_t zero_point, lo, hi; // output zero point and the activation's range");
  src.close(";");
  src.line();
}

// Output channel c + r of the group at `q` (= L->channels + 4 * c): bias q[4r], then the
// requantization constants q[4r + 1..3].
std::string requant_expr(const Variant& v, const std::string& acc, int r) {
  const std::string lo = v.clamp ? "lo" : "-128", hi = v.clamp ? "hi" : "127";
  const int m = 4 * r + 1;
  switch (v.requant) {
    case Requant::kDoubled:
      return fmt::format("output_int8_doubled({}, q[{}], q[{}], q[{}], {}, {}, {})", acc, m, m + 1,
                         m + 2, v.negative_ties ? "true" : "false", lo, hi);
    case Requant::kFolded:
      return fmt::format("output_int8_folded({}, q[{}], q[{}], q[{}], {}, {})", acc, m, m + 1, m + 2,
                         lo, hi);
    case Requant::kHi:
      return fmt::format("output_int8_hi({}, q[{}], q[{}], q[{}], zp, {}, {})", acc, m, m + 1, m + 2,
                         lo, hi);
    case Requant::kWide: break;
  }
  return fmt::format("output_int8({}, q[{}], q[{}], zp, {}, {})", acc, m, m + 2, lo, hi);
}

// The layer's constants as locals: stores through int8_t* y may alias any memory, so fields
// read after one would be loaded again.
void emit_locals(CodeWriter& src, const Variant& v, bool shape_arguments = false) {
  if (shape_arguments) {
    src.line("const int c_n = L->channel_count, row = L->row_bytes;");
  } else {
    src.linef("const int c_n = {};", v.g.in_c);
  }
  src.line("const int32_t offset = L->offset;");
  if (v.requant == Requant::kHi || v.requant == Requant::kWide) {
    src.line("const int32_t zp = L->zero_point;");
  }
  if (v.clamp) src.line("const int32_t lo = L->lo, hi = L->hi;");
  src.line("const int32_t* const channels = L->channels;");
}

// `fn(x, y, L, iy0, ky0, ky1, ix)`: one output pixel whose window leaves the image, all
// channels: window rows [ky0, ky1) (run-time), columns [kx0, kx1) (unrolled) starting at input
// column ix. Border pixels are few but, on small images, not negligible (person_detect's 6x6
// layers: 20 of 36 pixels), so their columns are unrolled too. Shared by all layers with the
// same window and requantization: the channel count and row size are arguments (in `L`),
// which costs a few instructions per pixel and saves a copy per layer shape.
void emit_border_fn(EmitContext& ctx, const Variant& v, int kx0, int kx1, const std::string& fn) {
  const Window& g = v.g;
  const int taps = g.k_h * g.k_w;
  CodeWriter& src = ctx.src;
  src.linef("// One output pixel whose window's columns {}..{} lie inside the image, all channels.",
            kx0, kx1 - 1);
  src.open(fmt::format("static void {}(const int8_t* x, int8_t* y, const {}* L, int iy0, int ky0, "
                       "int ky1, int ix)", fn, kLayerStruct));
  emit_locals(src, v, true);
  src.line("const int32_t* wg = L->weights;");
  src.open(fmt::format("for (int c = 0; c < c_n; c += 4, wg += {})", 2 * taps));
  src.line("const int32_t* const q = channels + 4 * c;");
  for (int r = 0; r < 4; ++r) src.linef("int32_t acc{} = q[{}];", r, 4 * r);
  src.line("const int8_t* xr = x + (iy0 + ky0) * row + ix * c_n + c;");
  src.linef("const int32_t* w = wg + {};", kx0 == 0 ? fmt::format("ky0 * {}", 2 * g.k_w)
                                                   : fmt::format("ky0 * {} + {}", 2 * g.k_w, 2 * kx0));
  src.open(fmt::format("for (int ky = ky0; ky < ky1; ++ky, xr += row, w += {})", 2 * g.k_w));
  for (int j = 0; j < kx1 - kx0; ++j) {
    src.open("");
    src.linef("const int32_t x_word = read_s8x4(xr{});", j == 0 ? "" : " + " + times("c_n", j));
    src.line("const int32_t x_even = __sxtab16(offset, x_word), x_odd = sxtab16_ror8(offset, x_word);");
    src.linef("acc0 = __smlabb(x_even, w[{}], acc0);", 2 * j);
    src.linef("acc2 = __smlatt(x_even, w[{}], acc2);", 2 * j);
    src.linef("acc1 = __smlabb(x_odd, w[{}], acc1);", 2 * j + 1);
    src.linef("acc3 = __smlatt(x_odd, w[{}], acc3);", 2 * j + 1);
    src.close();
  }
  src.close();
  for (int r = 0; r < 4; ++r) {
    src.linef("const int8_t y{} = {};", r, requant_expr(v, fmt::format("acc{}", r), r));
  }
  src.line("y[c] = y0;");
  src.line("y[c + 1] = y1;");
  src.line("y[c + 2] = y2;");
  src.line("y[c + 3] = y3;");
  src.close();
  src.close();
  src.line();
}

// The inside-the-image window of one output pixel and one channel group: every tap unrolled
// (GCC -O2 does not unroll the tap loops itself), the requantized outputs stored last.
void emit_whole_window(CodeWriter& src, const Variant& v) {
  const Window& g = v.g;
  const int taps = g.k_h * g.k_w;
  src.line("const int32_t* w = L->weights;");
  src.open(fmt::format("for (int c = 0; c < c_n; c += 4, xc += 4, w += {})", 2 * taps));
  src.line("const int32_t* const q = channels + 4 * c;");
  for (int r = 0; r < 4; ++r) src.linef("int32_t acc{} = q[{}];", r, 4 * r);
  for (int ky = 0; ky < g.k_h; ++ky) {
    for (int kx = 0; kx < g.k_w; ++kx) {
      const int at = (ky * g.k_w + kx) * 2;
      const int64_t off = (int64_t{ky} * g.in_w + kx) * g.in_c;
      src.open("");
      src.linef("const int32_t x_word = read_s8x4(xc{});  // tap ({}, {})",
                off == 0 ? std::string() : fmt::format(" + {}", off), ky, kx);
      src.line("const int32_t x_even = __sxtab16(offset, x_word), x_odd = sxtab16_ror8(offset, x_word);");
      src.linef("acc0 = __smlabb(x_even, w[{}], acc0);", at);
      src.linef("acc2 = __smlatt(x_even, w[{}], acc2);", at);
      src.linef("acc1 = __smlabb(x_odd, w[{}], acc1);", at + 1);
      src.linef("acc3 = __smlatt(x_odd, w[{}], acc3);", at + 1);
      src.close();
    }
  }
  // All results before any store (a store through int8_t* may alias the constants).
  for (int r = 0; r < 4; ++r) {
    src.linef("const int8_t y{} = {};", r, requant_expr(v, fmt::format("acc{}", r), r));
  }
  for (int r = 0; r < 4; ++r) src.linef("y[c + {0}] = y{0};", r);
  src.close();
}

// Pixels per block inside the image for stride 1: they share input columns, so each unpacked
// column serves up to 3 of them. Two channels per pass (x0, x2), then (x1, x3), keep the 6
// accumulators, the pointers and the operands in registers (4 channels x 2 pixels spilled).
// 4 pixels (8 accumulators): person_detect 0.2% fewer instructions for 2 KB more code, and
// kws_like 2% more instructions.
constexpr int kBlock = 3;

// kBlock output pixels inside the image (stride 1), one channel group: in two passes of two
// channels each, every tap unrolled; each pass stores its outputs last.
void emit_block_window(CodeWriter& src, const Variant& v) {
  const Window& g = v.g;
  const int taps = g.k_h * g.k_w, cols = (kBlock - 1) * g.stride_w + g.k_w;
  src.line("const int32_t* w = L->weights;");
  src.open(fmt::format("for (int c = 0; c < c_n; c += 4, xc += 4, w += {})", 2 * taps));
  src.line("const int32_t* const q = channels + 4 * c;");
  for (int h = 0; h < 2; ++h) {
    src.open("");
    src.linef("// channels c + {} and c + {}, pixels ox .. ox + {}", h, h + 2, kBlock - 1);
    for (const char* acc : {"a", "b"}) {
      std::string init = fmt::format("int32_t {}0 = q[{}]", acc, 4 * (acc[0] == 'a' ? h : h + 2));
      for (int p = 1; p < kBlock; ++p) init += fmt::format(", {0}{1} = {0}0", acc, p);
      src.line(init + ";");
    }
    for (int ky = 0; ky < g.k_h; ++ky) {
      for (int j = 0; j < cols; ++j) {
        const int64_t off = (int64_t{ky} * g.in_w + j) * g.in_c;
        src.open("");
        src.linef("const int32_t xj = {}(offset, read_s8x4(xc{}));  // row {}, column {}",
                  h == 0 ? "__sxtab16" : "sxtab16_ror8",
                  off == 0 ? std::string() : fmt::format(" + {}", off), ky, j);
        for (int p = 0; p < kBlock; ++p) {
          const int kx = j - p * g.stride_w;
          if (kx < 0 || kx >= g.k_w) continue;
          const int at = (ky * g.k_w + kx) * 2 + h;
          src.linef("a{0} = __smlabb(xj, w[{1}], a{0});", p, at);
          src.linef("b{0} = __smlatt(xj, w[{1}], b{0});", p, at);
        }
        src.close();
      }
    }
    for (int p = 0; p < kBlock; ++p) {
      src.linef("const int8_t ya{} = {};", p, requant_expr(v, fmt::format("a{}", p), h));
      src.linef("const int8_t yb{} = {};", p, requant_expr(v, fmt::format("b{}", p), h + 2));
    }
    for (int p = 0; p < kBlock; ++p) {
      const std::string at = p == 0 ? std::string("c") : fmt::format("{} + c", p * g.in_c);
      src.linef("y[{} + {}] = ya{};", at, h, p);
      src.linef("y[{} + {}] = yb{};", at, h + 2, p);
    }
    src.close();
  }
  src.close();
}

// The shared kernel of one variant (and its border helpers), written once per file.
std::string emit_shared_kernel(EmitContext& ctx, const Variant& v) {
  const std::string fn = v.name();
  if (!ctx.ids.insert(fn).second) return fn;
  const Window& g = v.g;
  // Output columns in runs of the same in-image window columns [kx0, kx1).
  struct Run {
    int ox0, ox1, kx0, kx1;
  };
  std::vector<Run> runs;
  for (int ox = 0; ox < g.out_w; ++ox) {
    const int ix0 = ox * g.stride_w - g.pad_left;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.k_w, g.in_w - ix0);
    if (!runs.empty() && runs.back().kx0 == kx0 && runs.back().kx1 == kx1) {
      runs.back().ox1 = ox + 1;
    } else {
      runs.push_back({ox, ox + 1, kx0, kx1});
    }
  }
  const bool clip_top = g.pad_top > 0;
  const bool clip_bottom = (g.out_h - 1) * g.stride_h - g.pad_top + g.k_h > g.in_h;
  std::map<std::pair<int, int>, std::string> helpers;
  for (const Run& r : runs) {
    const bool whole = r.kx0 == 0 && r.kx1 == g.k_w;
    if ((whole && !clip_top && !clip_bottom) || helpers.count({r.kx0, r.kx1})) continue;
    const std::string h = fmt::format("depthwise_{}x{}_cols{}to{}{}", g.k_h, g.k_w, r.kx0,
                                      r.kx1 - 1, v.suffix());
    if (ctx.ids.insert(h).second) emit_border_fn(ctx, v, r.kx0, r.kx1, h);
    helpers[{r.kx0, r.kx1}] = h;
  }
  CodeWriter& src = ctx.src;
  src.linef("// Shared by the depthwise_conv2d layers with a {}x{} window, stride {}x{}, input {}x{}x{}{}:",
            g.k_h, g.k_w, g.stride_h, g.stride_w, g.in_h, g.in_w, g.in_c,
            v.clamp ? " (activation clamped)" : "");
  src.line("// y = requantized sum over taps of (x - zero point) * w + bias, per channel. Output pixels in");
  src.line("// raster order, each reading its inputs before writing its outputs.");
  src.open(fmt::format("static TINYC_NOINLINE void {}(const int8_t* x, int8_t* y, const {}* L)", fn, kLayerStruct));
  // Whether some pixel runs the inline window code (else every pixel calls a helper).
  bool inline_code = false;
  for (const Run& r : runs) {
    inline_code = inline_code || (r.kx0 == 0 && r.kx1 == g.k_w);
  }
  if (inline_code) {
    emit_locals(src, v);
    src.linef("const int row = {};  // bytes per input row", int64_t{g.in_w} * g.in_c);
  } else {
    src.linef("const int c_n = {};", g.in_c);
  }
  src.open(fmt::format("for (int oy = 0; oy < {}; ++oy)", g.out_h));
  src.linef("const int iy0 = {};", minus(times("oy", g.stride_h), g.pad_top));
  const std::string ky0 = clip_top ? "ky0" : "0", ky1 = clip_bottom ? "ky1" : std::to_string(g.k_h);
  if (clip_top) src.line("const int ky0 = iy0 < 0 ? -iy0 : 0;");
  if (clip_bottom) src.linef("const int ky1 = iy0 + {0} > {1} ? {1} - iy0 : {0};", g.k_h, g.in_h);
  for (const Run& r : runs) {
    const bool whole = r.kx0 == 0 && r.kx1 == g.k_w;
    const std::string ix = minus(times("ox", g.stride_w), g.pad_left - r.kx0);
    auto helper_call = [&]() {
      const std::string& h = helpers.at({r.kx0, r.kx1});
      if (r.ox1 - r.ox0 == 1) {
        src.linef("{}(x, y, L, iy0, {}, {}, {});", h, ky0, ky1,
                  r.ox0 * g.stride_w - g.pad_left + r.kx0);
        src.line("y += c_n;");
      } else {
        src.linef("for (int ox = {}; ox < {}; ++ox, y += c_n) {}(x, y, L, iy0, {}, {}, {});", r.ox0,
                  r.ox1, h, ky0, ky1, ix);
      }
    };
    if (!whole) {
      src.linef("// output columns {}..{}: window columns {}..{} inside the image", r.ox0, r.ox1 - 1,
                r.kx0, r.kx1 - 1);
      helper_call();
      continue;
    }
    std::vector<std::string> inside;
    if (clip_top) inside.push_back("ky0 == 0");
    if (clip_bottom) inside.push_back(fmt::format("ky1 == {}", g.k_h));
    if (!inside.empty()) {
      src.open(fmt::format("if ({})", inside.size() == 1 ? inside[0] : inside[0] + " && " + inside[1]));
    }
    const std::string xc = fmt::format("const int8_t* xc = x + iy0 * row + {};",
                                       times(minus(times("ox", g.stride_w), g.pad_left), g.in_c));
    const int blocks = g.stride_w == 1 ? (r.ox1 - r.ox0) / kBlock : 0;
    const int rest0 = r.ox0 + blocks * kBlock;  // first pixel after the blocks
    if (blocks > 0) {
      src.open(fmt::format("for (int ox = {0}; ox < {1}; ox += {2}, y += {2} * c_n)", r.ox0, rest0,
                           kBlock));
      src.line(xc);
      emit_block_window(src, v);
      src.close();
    }
    if (rest0 < r.ox1 && blocks > 0 && helpers.count({0, g.k_w})) {
      // The last pixels of the row: the border helper's code (rows run-time) is as fast.
      const std::string& h = helpers.at({0, g.k_w});
      src.linef("for (int ox = {}; ox < {}; ++ox, y += c_n) {}(x, y, L, iy0, 0, {}, {});", rest0,
                r.ox1, h, g.k_h, minus(times("ox", g.stride_w), g.pad_left));
    } else if (rest0 < r.ox1) {
      src.open(fmt::format("for (int ox = {}; ox < {}; ++ox, y += c_n)", rest0, r.ox1));
      src.line(xc);
      emit_whole_window(src, v);
      src.close();
    }
    if (!inside.empty()) {
      src.close();
      src.open("else");
      helper_call();
      src.close();
    }
  }
  src.close();
  src.close();
  src.line();
  return fn;
}

void emit_depthwise_dsp(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const Tensor& bt = m.tensor(op.inputs[2]);
  const bool same = op_same_padding(op);
  const Window g = make_window(op, xt.shape, {wt.shape[1], wt.shape[2]},
                               op_pair(op, "stride", {1, 1}), same);
  const int64_t c_n = g.in_c, taps = int64_t{g.k_h} * g.k_w;
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, m.tensor(op.outputs[0]));
  const auto q = conv_multipliers(op, wt, bt, c_n, xq, yq);
  const ActivationRange range = fused_range_int8(op, yq);
  // Doubled weights and bias where output_int8_doubled's constants apply (int16 holds 2 w).
  std::vector<int64_t> rows(static_cast<size_t>(c_n * taps));  // per channel, its taps
  for (int64_t c = 0; c < c_n; ++c) {
    for (int64_t k = 0; k < taps; ++k) {
      rows[static_cast<size_t>(c * taps + k)] = wt.ints[static_cast<size_t>(k * c_n + c)];
    }
  }
  const std::vector<int64_t> bias(bt.ints.begin(), bt.ints.end());
  const FilterConstants doubled =
      doubled_constants(ctx, op.name, q, bias, yq.zero_point, range, rows, xq.zero_point);
  const int64_t scale = doubled.doubled ? 2 : 1;
  // Weights (kh, kw, c) -> per group of 4 channels, per tap, the words (w0 | w2 << 16) and
  // (w1 | w3 << 16): the halves SMLABB/SMLATT take against (x0, x2) and (x1, x3).
  std::vector<int64_t> w;
  w.reserve(static_cast<size_t>(taps * c_n / 2));
  for (int64_t c = 0; c < c_n; c += 4) {
    for (int64_t k = 0; k < taps; ++k) {
      auto at = [&](int64_t ch) { return scale * wt.ints[static_cast<size_t>(k * c_n + c + ch)]; };
      for (int64_t lo = 0; lo < 2; ++lo) {
        const uint32_t word = static_cast<uint16_t>(at(lo)) |
                              (static_cast<uint32_t>(static_cast<uint16_t>(at(lo + 2))) << 16);
        w.push_back(static_cast<int32_t>(word));
      }
    }
  }
  const std::string w_id = int_array(ctx, op.name + "_weights", "int32_t", 4, w, c_n / 4,
      fmt::format("{}: ({} x {}, {}) int8 symmetric per {}, as int16 pairs{}: per group of 4 "
                  "channels, per tap (ky, kx), (w0 | w2 << 16), (w1 | w3 << 16)",
                  wt.name, g.k_h, g.k_w, c_n, wt.quant.scale.size() > 1 ? "channel" : "tensor",
                  doubled.doubled ? ", doubled" : ""));
  Variant v;
  v.g = g;
  v.clamp = range.min > -128 || range.max < 127;
  bool folded = true, hi = true;
  for (const QuantizedMultiplier& r : q) {
    folded = folded && r.multiplier >= 0 && r.shift <= -2 && r.shift >= -22;
    hi = hi && r.multiplier >= 0 && r.shift <= -1 && r.shift >= -31;
  }
  v.requant = doubled.doubled ? Requant::kDoubled
              : folded       ? Requant::kFolded : hi ? Requant::kHi : Requant::kWide;
  v.negative_ties = range.min < yq.zero_point;
  // Per channel: bias, multiplier, then (folded) 2^(e-2) + zero point 2^(e-1) and e - 1,
  // (hi) 2^(e-1) and e - 1, or (wide) 0 and the shift; e = -shift.
  std::vector<int64_t> channels;
  for (int64_t c = 0; c < c_n && !doubled.doubled; ++c) {
    const QuantizedMultiplier& r = q[static_cast<size_t>(c)];
    const int e = -r.shift;
    channels.push_back(bt.ints[static_cast<size_t>(c)]);
    channels.push_back(r.multiplier);
    switch (v.requant) {
      case Requant::kDoubled: break;
      case Requant::kFolded:
        channels.push_back((int64_t{1} << (e - 2)) + int64_t{yq.zero_point} * (int64_t{1} << (e - 1)));
        channels.push_back(e - 1);
        break;
      case Requant::kHi:
        channels.push_back(int64_t{1} << (e - 1));
        channels.push_back(e - 1);
        break;
      case Requant::kWide:
        channels.push_back(0);
        channels.push_back(r.shift);
        break;
    }
  }
  ctx.needs_requantize = true;
  std::string c_id = doubled.channels;
  if (!doubled.doubled) {
    c_id = int_array(ctx, op.name + "_channels", "int32_t", 4, channels, c_n,
      fmt::format("{} per output channel: bias, then requantization ({}) in_scale * w_scale[c] / "
                  "out_scale = multiplier * 2^shift: multiplier, {}", op.name,
                  v.requant == Requant::kFolded ? "output_int8_folded"
                  : v.requant == Requant::kHi   ? "output_int8_hi" : "output_int8",
                  v.requant == Requant::kFolded ? "2^(-shift - 2) + zero point 2^(-shift - 1), -shift - 1"
                  : v.requant == Requant::kHi   ? "2^(-shift - 1), -shift - 1" : "0, shift"));
  }
  ctx.needs_dsp = true;
  emit_layer_struct(ctx);
  const std::string kernel = emit_shared_kernel(ctx, v);
  const std::string layer = unique_identifier(op.name + "_layer", &ctx.ids);
  CodeWriter& src = ctx.src;
  src.linef("// {} for {}.", kLayerStruct, op.name);
  src.open(fmt::format("static const {} {} =", kLayerStruct, layer));
  src.linef("{}[0], {}[0], {}, {},", w_id, c_id, c_n, int64_t{g.in_w} * c_n);
  src.linef("static_cast<int32_t>(0x{:08x}u), {}, {}, {}",
            static_cast<uint16_t>(-xq.zero_point) * 0x10001u, yq.zero_point, range.min, range.max);
  src.close(";");
  src.linef("// {}: int8 depthwise_conv2d {}, {} -> {}, activation {}. {} MACs.", op.name,
            window_str(g, same), shape_str(sample(xt.shape)),
            shape_str(sample(m.tensor(op.outputs[0]).shape)), act_name(op_activation(op, true)),
            g.out_pixels() * c_n * taps);
  src.linef("// x: ({}, {}, {}) scale {} zero point {}  w: ({} x {}, {})  y: ({}, {}, {}) scale {} "
            "zero point {}", g.in_h, g.in_w, c_n, xq.scale, xq.zero_point, g.k_h, g.k_w, c_n,
            g.out_h, g.out_w, c_n, yq.scale, yq.zero_point);
  src.linef("// DSP kernel {} (4 channels per step).", kernel);
  src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  src.linef("{}(x, y, &{});", kernel, layer);
  src.close();
}

}  // namespace

bool emit_int8_depthwise_dsp(EmitContext& ctx, const Op& op, const std::string& fn) {
  if (!dsp_depthwise_applies(ctx.target, ctx.model, op)) return false;
  emit_depthwise_dsp(ctx, op, fn);
  return true;
}

}  // namespace tinyc
