// int8 kernels of emitted code for the NHWC window ops (conv2d, depthwise_conv2d, max_pool2d,
// avg_pool2d) and global_avg_pool2d, bit-exact with the int8 reference executor
// (src/layers/*: TFLite's reference integer kernels). The per-channel requantization
// multipliers come from the reference's own conv_multipliers; integer sums are exact, so the
// loops may visit the taps in any order.
//
// The input zero point: sum over taps (x - zx) w = sum x w - zx sum w. A layer whose windows
// never leave the image has the second term folded into its bias at emit time; a padded
// layer subtracts zx per tap (taps in the padding are skipped, as in the reference).
// Portable loops; DSP targets run conv2d with SMLAD (kernels_int8_dsp.cpp).
#include <functional>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit/window_code.h"
#include "layers/int8_util.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

struct ConvConstants {
  std::string w, b;  // array identifiers
  RequantArrays requant;
};

// Weights as [rows][cols], the bias (with the zero point folded in when `fold`), and the
// per-channel multipliers and shifts. Channel o's weights are `channel_taps(o)`.
ConvConstants conv_constants(EmitContext& ctx, const Op& op, int64_t rows, int64_t channels,
                             bool fold, int32_t x_zero_point,
                             const std::vector<QuantizedMultiplier>& q,
                             const std::function<std::vector<int64_t>(int64_t)>& channel_taps) {
  const Model& m = ctx.model;
  const Tensor& wt = m.tensor(op.inputs[1]);
  const Tensor& bt = m.tensor(op.inputs[2]);
  std::vector<int64_t> w(wt.ints.begin(), wt.ints.end()), bias(static_cast<size_t>(channels));
  for (int64_t o = 0; o < channels; ++o) {
    auto folded = static_cast<uint32_t>(bt.ints[static_cast<size_t>(o)]);
    if (fold) {
      for (int64_t v : channel_taps(o)) {
        folded -= static_cast<uint32_t>(x_zero_point) * static_cast<uint32_t>(v);
      }
    }
    bias[static_cast<size_t>(o)] = static_cast<int32_t>(folded);
  }
  ConvConstants c;
  c.w = int_array(ctx, op.name + "_weights", "int8_t", 1, w, rows,
                  fmt::format("{}: {} int8, symmetric per {}, {} bytes", wt.name, shape_str(wt.shape),
                              wt.quant.scale.size() > 1 ? "output channel" : "tensor", w.size()));
  c.b = int_array(ctx, op.name + "_bias", "int32_t", 4, bias, 0,
                  fold ? fmt::format("{} bias with the input zero point ({}) folded in: b - zx * "
                                     "sum(w[o])", op.name, x_zero_point)
                       : fmt::format("{} bias", op.name));
  c.requant = requant_arrays(ctx, op.name, q);
  return c;
}

std::string epilogue(const ConvConstants& c, const std::string& o, const TensorQuant& yq,
                     const ActivationRange& r) {
  return requant_call(c.requant, "acc", o, yq.zero_point, r.min, r.max);
}

// `x_value` with the input zero point subtracted when it is not folded into the bias.
std::string tap(const std::string& x_value, bool fold, int32_t zero_point) {
  if (fold || zero_point == 0) return x_value;
  return zero_point > 0 ? fmt::format("({} - {})", x_value, zero_point)
                        : fmt::format("({} + {})", x_value, -zero_point);
}

// x: (H, W, C)  w: (F, kh, kw, C)  b: (F)  y: (OH, OW, F)
void emit_conv2d(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const bool same = op_same_padding(op);
  const Window g = make_window(op, xt.shape, {wt.shape[1], wt.shape[2]},
                               op_pair(op, "stride", {1, 1}), same);
  const int64_t filters = wt.shape[0], c_in = g.in_c, k = int64_t{g.k_h} * g.k_w * c_in;
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, m.tensor(op.outputs[0]));
  const auto q = conv_multipliers(op, wt, m.tensor(op.inputs[2]), filters, xq, yq);
  const ActivationRange range = fused_range_int8(op, yq);
  CodeWriter& src = ctx.src;
  // Whether any window leaves the image (decides the zero point's folding).
  CodeWriter probe;
  AxisBounds py = axis_bounds(probe, "oy", "iy", "ky", g.stride_h, g.pad_top, g.k_h, g.in_h, g.out_h);
  AxisBounds px = axis_bounds(probe, "ox", "ix", "kx", g.stride_w, g.pad_left, g.k_w, g.in_w, g.out_w);
  const bool fold = !py.clipped() && !px.clipped();
  const auto filter_taps = [&](int64_t o) {
    return std::vector<int64_t>(wt.ints.begin() + o * k, wt.ints.begin() + (o + 1) * k);
  };
  const ConvConstants c =
      conv_constants(ctx, op, filters, filters, fold, xq.zero_point, q, filter_taps);
  src.linef("// {}: int8 conv2d {}, {} -> {}, activation {}. {} MACs.", op.name, window_str(g, same),
            shape_str(sample(xt.shape)), shape_str(sample(m.tensor(op.outputs[0]).shape)),
            act_name(op_activation(op, true)), g.out_pixels() * filters * k);
  src.linef("// x: ({}, {}, {}) scale {} zero point {}  w: {}  y: ({}, {}, {}) scale {} zero point {}",
            g.in_h, g.in_w, c_in, xq.scale, xq.zero_point, shape_str(wt.shape), g.out_h, g.out_w,
            filters, yq.scale, yq.zero_point);
  src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  AxisBounds by, bx;
  open_pixel_loops(src, g, filters, &by, &bx);
  const std::string row_len = bx.clipped() ? times(bx.extent(), c_in) : std::to_string(g.k_w * c_in);
  src.open(fmt::format("for (int f = 0; f < {}; ++f)", filters));
  src.linef("int32_t acc = {}[f];", c.b);
  src.open(fmt::format("for (int ky = {}; ky < {}; ++ky)", by.lo, by.hi));
  src.linef("const int8_t* xr = x + {};",
            times(fmt::format("(iy0 + ky) * {} + {}", g.in_w, plus("ix0", bx.lo)), c_in));
  src.linef("const int8_t* wr = &{}[f][{}];", c.w,
            times(plus(fmt::format("ky * {}", g.k_w), bx.lo), c_in));
  src.linef("for (int i = 0; i < {}; ++i) acc += {} * wr[i];", row_len,
            tap("xr[i]", fold, xq.zero_point));
  src.close();
  src.linef("y[f] = {};", epilogue(c, "f", yq, range));
  src.close();
  src.close();
  src.close();
  src.close();
}

// x: (H, W, C)  w: (kh * kw, C * M)  b: (C * M)  y: (OH, OW, C * M); output channel c * M + j.
void emit_depthwise(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const bool same = op_same_padding(op);
  const Window g = make_window(op, xt.shape, {wt.shape[1], wt.shape[2]},
                               op_pair(op, "stride", {1, 1}), same);
  const int64_t c_in = g.in_c, c_out = wt.shape[3], mult = c_out / c_in, taps = int64_t{g.k_h} * g.k_w;
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, m.tensor(op.outputs[0]));
  const auto q = conv_multipliers(op, wt, m.tensor(op.inputs[2]), c_out, xq, yq);
  const ActivationRange range = fused_range_int8(op, yq);
  CodeWriter probe;
  AxisBounds py = axis_bounds(probe, "oy", "iy", "ky", g.stride_h, g.pad_top, g.k_h, g.in_h, g.out_h);
  AxisBounds px = axis_bounds(probe, "ox", "ix", "kx", g.stride_w, g.pad_left, g.k_w, g.in_w, g.out_w);
  const bool fold = !py.clipped() && !px.clipped();
  const ConvConstants c = conv_constants(ctx, op, taps, c_out, fold, xq.zero_point, q, [&](int64_t o) {
    std::vector<int64_t> v;
    for (int64_t t = 0; t < taps; ++t) v.push_back(wt.ints[static_cast<size_t>(t * c_out + o)]);
    return v;
  });
  CodeWriter& src = ctx.src;
  src.linef("// {}: int8 depthwise_conv2d {}, depth multiplier {}, {} -> {}, activation {}. {} MACs.",
            op.name, window_str(g, same), mult, shape_str(sample(xt.shape)),
            shape_str(sample(m.tensor(op.outputs[0]).shape)), act_name(op_activation(op, true)),
            g.out_pixels() * c_out * taps);
  src.linef("// x: ({}, {}, {}) scale {} zero point {}  w: ({} x {}, {})  y: ({}, {}, {}) scale {} "
            "zero point {}", g.in_h, g.in_w, c_in, xq.scale, xq.zero_point, g.k_h, g.k_w, c_out,
            g.out_h, g.out_w, c_out, yq.scale, yq.zero_point);
  src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  AxisBounds by, bx;
  open_pixel_loops(src, g, c_out, &by, &bx);
  src.open(fmt::format("for (int c = 0; c < {}; ++c)", c_in));
  std::string o = "c";
  if (mult > 1) {
    src.open(fmt::format("for (int j = 0; j < {}; ++j)", mult));
    src.linef("const int o = c * {} + j;", mult);
    o = "o";
  }
  src.linef("int32_t acc = {}[{}];", c.b, o);
  src.open(fmt::format("for (int ky = {}; ky < {}; ++ky)", by.lo, by.hi));
  src.open(fmt::format("for (int kx = {}; kx < {}; ++kx)", bx.lo, bx.hi));
  const std::string x_at =
      fmt::format("x[{} + c]", times(fmt::format("(iy0 + ky) * {} + ix0 + kx", g.in_w), c_in));
  src.linef("acc += {} * {}[ky * {} + kx][{}];", tap(x_at, fold, xq.zero_point), c.w, g.k_w, o);
  src.close();
  src.close();
  src.linef("y[{}] = {};", o, epilogue(c, o, yq, range));
  if (mult > 1) src.close();
  src.close();
  src.close();
  src.close();
  src.close();
}

// TFLite's int8 average: sum / count rounded half away from zero, clamped to int8.
void store_average(CodeWriter& src, const std::string& target, const std::string& count) {
  const bool literal = count.find_first_not_of("0123456789") == std::string::npos;
  const std::string half =
      literal ? std::to_string(std::stoll(count) / 2) : fmt::format("{} / 2", par(count));
  src.linef("const int32_t v = sum > 0 ? (sum + {1}) / {0} : (sum - {1}) / {0};", par(count), half);
  src.linef("{} = static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v));", target);
}

// x: (H, W, C)  y: (OH, OW, C), sharing x's quantization. Channel by channel (in place: see
// pool_in_place).
void emit_pool(EmitContext& ctx, const Op& op, const std::string& fn, bool max) {
  const Tensor& xt = ctx.model.tensor(op.inputs[0]);
  require_same_quant(op, xt, ctx.model.tensor(op.outputs[0]));
  const Window g = pool_window(op, xt.shape);
  const int64_t c_n = g.in_c;
  CodeWriter& src = ctx.src;
  src.linef("// {}: int8 {} {}, {} -> ({}, {}, {}), output quantized as the input{}.", op.name,
            max ? "max_pool2d" : "avg_pool2d", window_str(g, op_same_padding(op)),
            shape_str(sample(xt.shape)), g.out_h, g.out_w, c_n,
            max ? "" : "; the mean of the in-image values, rounded half away from zero");
  src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  AxisBounds by, bx;
  open_pixel_loops(src, g, c_n, &by, &bx);
  const std::string at =
      fmt::format("x[{} + c]", times(fmt::format("(iy0 + ky) * {} + ix0 + kx", g.in_w), c_n));
  src.open(fmt::format("for (int c = 0; c < {}; ++c)", c_n));
  if (max) {
    src.linef("int8_t v = x[{} + c];", times(fmt::format("{} * {} + {}", par(plus("iy0", by.lo)),
                                                         g.in_w, plus("ix0", bx.lo)), c_n));
  } else {
    src.line("int32_t sum = 0;");
  }
  src.open(fmt::format("for (int ky = {}; ky < {}; ++ky)", by.lo, by.hi));
  src.open(fmt::format("for (int kx = {}; kx < {}; ++kx)", bx.lo, bx.hi));
  if (max) {
    src.linef("const int8_t t = {};", at);
    src.line("if (t > v) v = t;");
  } else {
    src.linef("sum += {};", at);
  }
  src.close();
  src.close();
  if (max) {
    src.line("y[c] = v;");
  } else {
    const bool clipped = by.clipped() || bx.clipped();
    store_average(src, "y[c]", clipped ? fmt::format("{} * {}", par(by.extent()), par(bx.extent()))
                                       : std::to_string(g.k_h * g.k_w));
  }
  src.close();
  src.close();
  src.close();
  src.close();
}

// x: (H * W, C)  y: (C), sharing x's quantization. Channel by channel: in place, y[c] replaces
// x[0][c] after its last read.
void emit_global_avg_pool(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Tensor& xt = ctx.model.tensor(op.inputs[0]);
  require_same_quant(op, xt, ctx.model.tensor(op.outputs[0]));
  const Shape& s = xt.shape;
  const int64_t pixels = int64_t{s[1]} * s[2], c_n = s[3];
  ctx.src.linef("// {}: int8 global_avg_pool2d {} -> ({}): the mean of each channel, rounded half "
                "away from zero.", op.name, shape_str(sample(s)), c_n);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  ctx.src.open(fmt::format("for (int c = 0; c < {}; ++c)", c_n));
  ctx.src.line("int32_t sum = 0;");
  ctx.src.linef("for (int p = 0; p < {}; ++p) sum += x[p * {} + c];", pixels, c_n);
  store_average(ctx.src, "y[c]", std::to_string(pixels));
  ctx.src.close();
  ctx.src.close();
}

}  // namespace

void emit_int8_cnn_kernel(EmitContext& ctx, const Op& op, const std::string& fn) {
  if (emit_int8_depthwise_dsp(ctx, op, fn)) return;
  if (emit_int8_conv_dsp(ctx, op, fn)) return;
  switch (op.type) {
    case OpType::kConv2d: return emit_conv2d(ctx, op, fn);
    case OpType::kDepthwiseConv2d: return emit_depthwise(ctx, op, fn);
    case OpType::kMaxPool2d: return emit_pool(ctx, op, fn, true);
    case OpType::kAvgPool2d: return emit_pool(ctx, op, fn, false);
    case OpType::kGlobalAvgPool2d: return emit_global_avg_pool(ctx, op, fn);
    default:
      unsupported("layer '{}' ({}) cannot be emitted for target '{}' yet (int8)", op.name,
                  op_type_name(op.type), ctx.target.name);
  }
}

}  // namespace tinyc
