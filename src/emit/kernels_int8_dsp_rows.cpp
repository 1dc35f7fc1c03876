// int8 depthwise_conv2d over one input channel on DSP targets, without scratch: with depth
// multiplier M (micro_speech's first layer: 8) it is a conv2d with M filters. Bit-exact with the
// int8 reference executor. Also a conv2d over one channel whose window has more than 3 rows or
// more than 4 columns (kws_like's 10x4 first layer: 1.94 instructions per MAC against 2.73 for
// the im2col kernel, cortex-m4 -O2); smaller windows take emit_few_taps_conv in
// kernels_int8_dsp.cpp (fashion_tiny's 3x3: 2.35; this kernel measured 3.75 there).
//
// With one channel, each row of a window is kw consecutive input bytes. Per output pixel
// (raster order) and per group of up to kGroup filters, each row of the window inside the image
// is read as words of 4 bytes straight from the input (unaligned LDR) and unpacked once by
// SXTAB16 into (x0 - zx, x2 - zx) and (x1 - zx, x3 - zx); every filter of the group then loads
// its matching int16 weight pairs with one LDRD and does 2 SMLADs per word. The weights are
// pre-expanded to int16 pairs at emit time (2 bytes per tap, taps past kw in the last word are
// 0): SXTB16 on weights would cost 2 instructions per word and filter, more than the pairs'
// extra flash for such small layers (micro_speech: 640 weights, 1,280 bytes). Rows in the
// padding are skipped (their taps are x - zx = 0); a word that crosses the image's left or
// right edge is assembled byte by byte with zx in the padding. The outputs of one pixel are
// computed into a local array and stored after the pixel's last read, so a planner may
// overlap the output with the input (see OpStorage).
#include <algorithm>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit/window_code.h"
#include "layers/int8_util.h"

namespace tinyc {
namespace {

// Filters per group: 4 accumulators, 2 unpacked inputs, 2 weights and 3 pointers/counters fit
// the 13 free core registers of a Cortex-M4.
constexpr int64_t kGroup = 4;

}  // namespace

void emit_edge_word(CodeWriter& src, const std::string& name, int in_w, int32_t zero_point) {
  const uint32_t fill = static_cast<uint8_t>(zero_point) * 0x01010101u;
  src.linef("// Bytes ix..ix + 3 of an input row, the input zero point ({}) where outside the "
            "image.", zero_point);
  src.open(fmt::format("static int32_t {}(const int8_t* row, int ix)", name));
  src.linef("const uint32_t fill = 0x{:08x}u;", fill);
  src.linef("if (ix <= -4 || ix >= {}) return static_cast<int32_t>(fill);", in_w);
  if (in_w >= 4) {
    // One word read inside the row, shifted into place: the zero point fills the rest.
    src.open(fmt::format("if (ix < 0 && ix + 4 <= {})", in_w));
    src.line("const int n = -8 * ix;  // bits left of the image");
    src.line("return static_cast<int32_t>((static_cast<uint32_t>(read_s8x4(row)) << n) | (fill >> (32 - n)));");
    src.close();
    src.open("if (ix >= 0)");
    src.linef("const int n = 8 * (ix + 4 - {});  // bits right of the image", in_w);
    src.linef("return static_cast<int32_t>((static_cast<uint32_t>(read_s8x4(row + {})) >> n) | "
              "(fill << (32 - n)));", in_w - 4);
    src.close();
  }
  src.line("uint32_t v = 0;");
  src.open("for (int i = 0; i < 4; ++i)");
  src.line("const int c = ix + i;");
  src.linef("const int8_t b = c >= 0 && c < {} ? row[c] : static_cast<int8_t>({});", in_w,
            zero_point);
  src.line("v |= static_cast<uint32_t>(static_cast<uint8_t>(b)) << (8 * i);");
  src.close();
  src.line("return static_cast<int32_t>(v);");
  src.close();
  src.line();
}

bool dsp_rows_applies(const Target& t, const Model& m, const Op& op) {
  if (!t.dsp || m.tensor(op.inputs[0]).shape[3] != 1) return false;
  if (op.type == OpType::kDepthwiseConv2d) return true;
  // A conv2d over one channel whose window emit_few_taps_conv cannot hold in registers.
  const Tensor& w = m.tensor(op.inputs[1]);
  return op.type == OpType::kConv2d &&
         !few_taps_window(static_cast<int>(w.shape[1]), static_cast<int>(w.shape[2]));
}

void emit_int8_conv_dsp_rows(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const Tensor& bt = m.tensor(op.inputs[2]);
  const bool depthwise = op.type == OpType::kDepthwiseConv2d;
  const bool same = op_same_padding(op);
  const Window g = make_window(op, xt.shape, {wt.shape[1], wt.shape[2]},
                               op_pair(op, "stride", {1, 1}), same);
  const int64_t f_n = depthwise ? wt.shape[3] : wt.shape[0];
  const int64_t words = (g.k_w + 3) / 4;  // words per window row
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, m.tensor(op.outputs[0]));
  const auto q = conv_multipliers(op, wt, bt, f_n, xq, yq);
  const ActivationRange range = fused_range_int8(op, yq);
  auto weight = [&](int64_t f, int64_t ky, int64_t kx) -> int64_t {
    if (kx >= g.k_w) return 0;
    const int64_t tap = ky * g.k_w + kx;
    return wt.ints[static_cast<size_t>(depthwise ? tap * f_n + f : f * g.k_h * g.k_w + tap)];
  };
  // Group by group, row by row, word by word, filter by filter: the pairs (w0, w2), (w1, w3)
  // of the word's 4 taps as int16 halves, the order in which the kernel walks them.
  std::vector<int64_t> pairs;
  for (int64_t f0 = 0; f0 < f_n; f0 += kGroup) {
    const int64_t nf = std::min(kGroup, f_n - f0);
    for (int64_t ky = 0; ky < g.k_h; ++ky) {
      for (int64_t j = 0; j < words; ++j) {
        for (int64_t i = 0; i < nf; ++i) {
          for (int half = 0; half < 2; ++half) {
            const int64_t lo = weight(f0 + i, ky, 4 * j + half), hi = weight(f0 + i, ky, 4 * j + 2 + half);
            pairs.push_back(static_cast<int32_t>((static_cast<uint32_t>(hi) << 16) |
                                                 (static_cast<uint32_t>(lo) & 0xffffu)));
          }
        }
      }
    }
  }
  const std::string w_id = int_array(ctx, op.name + "_weights", "int32_t", 4, pairs, 0,
      fmt::format("{}: {} int8, symmetric per {}, as int16 pairs (w0, w2), (w1, w3) per word of 4 "
                  "taps of a row (taps past {} are 0); groups of {} filters, then rows, words, "
                  "filters", wt.name, shape_str(wt.shape),
                  wt.quant.scale.size() > 1 ? "output channel" : "tensor", g.k_w, kGroup));
  std::vector<int64_t> bias(bt.ints.begin(), bt.ints.end());
  const FilterConstants consts = filter_constants(ctx, op.name, q, bias, yq.zero_point);
  const bool folded = consts.folded;
  const std::string& b_id = consts.bias;
  const RequantArrays& rq = consts.requant;
  std::string c_id = consts.channels;
  ctx.needs_dsp = true;
  CodeWriter& src = ctx.src;

  // A word of the row `row` from column `ix` where some of its 4 columns lie outside the image.
  const bool edges = g.pad_left > 0 || (g.out_w - 1) * g.stride_w - g.pad_left + 4 * words > g.in_w;
  const std::string edge_fn = unique_identifier(fn + "_edge_word", &ctx.ids);
  if (edges) emit_edge_word(src, edge_fn, g.in_w, xq.zero_point);
  src.linef("// {}: int8 {} {}, {} -> {}, activation {}. {} MACs.", op.name,
            depthwise ? "depthwise_conv2d (one input channel, as a conv2d)" : "conv2d",
            window_str(g, same), shape_str(sample(xt.shape)),
            shape_str(sample(m.tensor(op.outputs[0]).shape)), act_name(op_activation(op, true)),
            g.out_pixels() * f_n * g.k_h * g.k_w);
  src.linef("// x: ({}, {}, 1) scale {} zero point {}  w: ({}, {} x {})  y: ({}, {}, {}) scale {} "
            "zero point {}", g.in_h, g.in_w, xq.scale, xq.zero_point, f_n, g.k_h, g.k_w, g.out_h,
            g.out_w, f_n, yq.scale, yq.zero_point);
  src.linef("// DSP kernel, no scratch: each window row read from x as {} word(s), unpacked once "
            "per {} filters.", words, kGroup);
  src.open(fmt::format("static TINYC_NOINLINE void {}(const int8_t* x, int8_t* y)", fn));
  emit_offset(src, xq.zero_point);
  src.open(fmt::format("for (int oy = 0; oy < {}; ++oy)", g.out_h));
  const AxisBounds by = axis_bounds(src, "oy", "iy", "ky", g.stride_h, g.pad_top, g.k_h, g.in_h,
                                    g.out_h);
  src.open(fmt::format("for (int ox = 0; ox < {}; ++ox, y += {})", g.out_w, f_n));
  src.linef("const int ix0 = {}{};", times("ox", g.stride_w),
            g.pad_left > 0 ? fmt::format(" - {}", g.pad_left) : std::string());
  if (edges) {
    for (int64_t j = 0; j < words; ++j) {
      src.linef("const bool inside{} = {} >= 0 && {} <= {};", j, plus("ix0", std::to_string(4 * j)),
                plus("ix0", std::to_string(4 * j + 4)), g.in_w);
    }
  }
  src.linef("alignas(4) int8_t out[{}];  // stored after the pixel's last read of x", f_n);
  const int64_t row_words = 2 * words;  // int32 weight words per row and filter
  for (int64_t f0 = 0; f0 < f_n; f0 += kGroup) {
    const int64_t nf = std::min(kGroup, f_n - f0);
    src.open("");
    src.linef("// filters {} to {}", f0, f0 + nf - 1);
    for (int64_t i = 0; i < nf; ++i) {
      src.linef("int32_t acc{} = {};", i, folded ? fmt::format("{}[{}][0]", c_id, f0 + i)
                                                 : fmt::format("{}[{}]", b_id, f0 + i));
    }
    const int64_t base = f0 * g.k_h * row_words;
    src.linef("const int32_t* w = {} + {};", w_id,
              plus(std::to_string(base), by.lo == "0" ? "0" : times(by.lo, nf * row_words)));
    src.open(fmt::format("for (int ky = {}; ky < {}; ++ky, w += {})", by.lo, by.hi, nf * row_words));
    src.linef("const int8_t* row = x + {};", times("iy0 + ky", g.in_w));
    for (int64_t j = 0; j < words; ++j) {
      const std::string at = plus("ix0", std::to_string(4 * j));
      if (edges) {
        src.linef("const int32_t v{0} = inside{0} ? read_s8x4(row + {1}) : {2}(row, {1});", j,
                  at, edge_fn);
      } else {
        src.linef("const int32_t v{} = read_s8x4(row + {});", j, at);
      }
      src.linef("const int32_t x{0}a = __sxtab16(offset, v{0}), x{0}b = sxtab16_ror8(offset, v{0});",
                j);
      for (int64_t i = 0; i < nf; ++i) {
        src.open("");
        src.line("int32_t wa, wb;");
        src.linef("load_pair<{}>(w, &wa, &wb);", (j * nf + i) * 2);
        src.linef("acc{0} = __smlad(wa, x{1}a, acc{0});", i, j);
        src.linef("acc{0} = __smlad(wb, x{1}b, acc{0});", i, j);
        src.close();
      }
    }
    src.close();
    for (int64_t i = 0; i < nf; ++i) {
      const std::string acc = fmt::format("acc{}", i);
      src.linef("out[{}] = {};", f0 + i,
                folded ? fmt::format("output_int8_folded({0}, {1}[{2}][1], {1}[{2}][2], {1}[{2}][3], "
                                     "{3}, {4})", acc, c_id, f0 + i, range.min, range.max)
                       : requant_call(rq, acc, std::to_string(f0 + i), yq.zero_point, range.min,
                                      range.max));
    }
    src.close();
  }
  src.linef("for (int f = 0; f < {}; ++f) y[f] = out[f];", f_n);
  src.close();  // the pixel loops and the function
  src.close();
  src.close();
}

}  // namespace tinyc
