// int8 depthwise_conv2d for targets with the DSP extension (Cortex-M4/M7/M33), bit-exact with
// the int8 reference executor. Depthwise layers with one input channel run as a conv2d
// (kernels_int8_dsp.cpp); this file handles multiplier 1 over a multiple of 4 channels.
#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit/window_code.h"
#include "layers/int8_util.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

// depthwise_conv2d with multiplier 1 over a multiple of 4 channels: 4 channels per step, each
// tap's word of 4 inputs and of 4 weights unpacked by SXTB16 and multiplied halfword by
// halfword (SMLABB, SMLATT).
bool dsp_depthwise_applies(const Target& t, const Model& m, const Op& op) {
  if (!t.dsp || op.type != OpType::kDepthwiseConv2d) return false;
  const int64_t c_in = m.tensor(op.inputs[0]).shape[3];
  return c_in > 1 && c_in % 4 == 0 && m.tensor(op.inputs[1]).shape[3] == c_in;
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
  std::vector<int64_t> w(wt.ints.begin(), wt.ints.end());
  std::vector<int64_t> bias(bt.ints.begin(), bt.ints.end());
  const std::string w_id = int_array(ctx, op.name + "_weights", "int8_t", 1, w, taps,
      fmt::format("{}: ({} x {}, {}) int8, symmetric per {}: one row of channels per tap",
                  wt.name, g.k_h, g.k_w, c_n, wt.quant.scale.size() > 1 ? "channel" : "tensor"));
  const std::string b_id = int_array(ctx, op.name + "_bias", "int32_t", 4, bias, 0,
                                     fmt::format("{} bias", op.name));
  const RequantArrays rq = requant_arrays(ctx, op.name, q);
  ctx.needs_dsp = true;
  CodeWriter& src = ctx.src;
  src.linef("// {}: int8 depthwise_conv2d {}, {} -> {}, activation {}. {} MACs.", op.name,
            window_str(g, same), shape_str(sample(xt.shape)),
            shape_str(sample(m.tensor(op.outputs[0]).shape)), act_name(op_activation(op, true)),
            g.out_pixels() * c_n * taps);
  src.linef("// x: ({}, {}, {}) scale {} zero point {}  w: ({} x {}, {})  y: ({}, {}, {}) scale {} "
            "zero point {}", g.in_h, g.in_w, c_n, xq.scale, xq.zero_point, g.k_h, g.k_w, c_n,
            g.out_h, g.out_w, c_n, yq.scale, yq.zero_point);
  src.line("// DSP kernel: 4 channels per step; taps in the padding are skipped.");
  src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  src.linef("const int32_t offset = static_cast<int32_t>(0x{:08x}u);  // -{} in both halves",
            static_cast<uint16_t>(-xq.zero_point) * 0x10001u, xq.zero_point);
  AxisBounds by, bx;
  open_pixel_loops(src, g, c_n, &by, &bx);
  // The channel loop over taps [ky_lo, ky_hi) x [kx_lo, kx_hi).
  auto channels = [&](const std::string& ky_lo, const std::string& ky_hi, const std::string& kx_lo,
                      const std::string& kx_hi) {
    src.open(fmt::format("for (int c = 0; c < {}; c += 4)", c_n));
    for (int r = 0; r < 4; ++r) src.linef("int32_t acc{} = {}[c + {}];", r, b_id, r);
    auto tap = [&](const std::string& x_at, const std::string& w_at) {
      src.linef("const int32_t x_word = read_s8x4({});", x_at);
      src.linef("const int32_t w_word = read_s8x4({});", w_at);
      src.line("const int32_t x_even = __sxtab16(offset, x_word), x_odd = sxtab16_ror8(offset, x_word);");
      src.line("const int32_t w_even = __sxtb16(w_word), w_odd = sxtb16_ror8(w_word);");
      src.line("acc0 = __smlabb(x_even, w_even, acc0);");
      src.line("acc2 = __smlatt(x_even, w_even, acc2);");
      src.line("acc1 = __smlabb(x_odd, w_odd, acc1);");
      src.line("acc3 = __smlatt(x_odd, w_odd, acc3);");
    };
    if (ky_lo == "0" && ky_hi == std::to_string(g.k_h) && kx_lo == "0" &&
        kx_hi == std::to_string(g.k_w) && g.k_h * g.k_w <= 25) {
      // Whole window: one block per tap (GCC -O2 does not unroll the tap loops itself).
      src.linef("const int8_t* xc = x + {} + c;", times(fmt::format("iy0 * {} + ix0", g.in_w), c_n));
      for (int ky = 0; ky < g.k_h; ++ky) {
        for (int kx = 0; kx < g.k_w; ++kx) {
          src.open("");
          src.linef("// tap ({}, {})", ky, kx);
          tap(fmt::format("xc + {}", (int64_t{ky} * g.in_w + kx) * c_n),
              fmt::format("&{}[{}][c]", w_id, ky * g.k_w + kx));
          src.close();
        }
      }
    } else {
      src.open(fmt::format("for (int ky = {}; ky < {}; ++ky)", ky_lo, ky_hi));
      src.linef("const int8_t* xr = x + (iy0 + ky) * {} + c;  // row iy0 + ky", g.in_w * c_n);
      src.linef("const int8_t* wr = &{}[ky * {}][c];", w_id, g.k_w);
      src.open(fmt::format("for (int kx = {}; kx < {}; ++kx)", kx_lo, kx_hi));
      tap(fmt::format("xr + {}", times("ix0 + kx", c_n)), fmt::format("wr + {}", times("kx", c_n)));
      src.close();
      src.close();
    }
    for (int r = 0; r < 4; ++r) {
      src.linef("y[c + {}] = {};", r, requant_call(rq, fmt::format("acc{}", r),
                fmt::format("c + {}", r), yq.zero_point, range.min, range.max));
    }
    src.close();
  };
  const std::string kh = std::to_string(g.k_h), kw = std::to_string(g.k_w);
  std::vector<std::string> whole;  // the window lies inside the image
  if (by.lo != "0") whole.push_back(by.lo + " == 0");
  if (by.hi != kh) whole.push_back(by.hi + " == " + kh);
  if (bx.lo != "0") whole.push_back(bx.lo + " == 0");
  if (bx.hi != kw) whole.push_back(bx.hi + " == " + kw);
  if (!whole.empty()) {
    std::string cond = whole[0];
    for (size_t i = 1; i < whole.size(); ++i) cond += " && " + whole[i];
    // Inside the image the tap loops have constant bounds: the compiler unrolls them.
    src.open(fmt::format("if ({})", cond));
    channels("0", kh, "0", kw);
    src.line("continue;");
    src.close();
  }
  channels(by.lo, by.hi, bx.lo, bx.hi);
  src.close();  // the pixel loops and the function
  src.close();
  src.close();
}

}  // namespace

bool emit_int8_depthwise_dsp(EmitContext& ctx, const Op& op, const std::string& fn) {
  if (!dsp_depthwise_applies(ctx.target, ctx.model, op)) return false;
  emit_depthwise_dsp(ctx, op, fn);
  return true;
}

}  // namespace tinyc
