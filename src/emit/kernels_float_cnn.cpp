// Float32 kernels of emitted code for the NHWC window ops (conv2d, depthwise_conv2d,
// max_pool2d, avg_pool2d), global_avg_pool2d and batch_norm. The geometry comes from the
// reference layers' own functions (layers/window.h: TFLite's SAME rule), so emitted code and
// `tinyc predict` agree on every window; every size is a literal in the emitted code.
//
// Window positions in the padding are never visited: the emitted loops clip each window to
// the image (convolutions then add no zero terms; pools leave them out of the max and the
// mean, as the reference does). Clipping code is written only for the sides that need it.
#include <cmath>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit/window_code.h"
#include "layers/activation_fn.h"
#include "layers/layer_util.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

void store(CodeWriter& src, const std::string& target, ActKind act, const std::string& v) {
  src.linef("{} = {};", target, float_activation_expr(act, v));
}

// x: (H, W, C)  w: (F, kh, kw, C)  b: (F)  y: (OH, OW, F)
void emit_conv2d(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const bool same = op_same_padding(op);
  const Window g = make_window(op, xt.shape, {wt.shape[1], wt.shape[2]},
                               op_pair(op, "stride", {1, 1}), same);
  const int64_t filters = wt.shape[0], c_in = g.in_c;
  const ActKind act = op_activation(op, true);
  const std::string& w_id = ctx.constant_array(op.inputs[1], filters);
  const std::string& b_id = ctx.constant_array(op.inputs[2]);
  CodeWriter& src = ctx.src;
  src.linef("// {}: conv2d {}, {} -> {}, activation {}. {} MACs.", op.name, window_str(g, same),
            shape_str(sample(xt.shape)), shape_str(sample(m.tensor(op.outputs[0]).shape)),
            act_name(act), g.out_pixels() * filters * g.k_h * g.k_w * c_in);
  src.linef("// x: ({}, {}, {})  w: {}  b: ({})  y: ({}, {}, {})", g.in_h, g.in_w, c_in,
            shape_str(wt.shape), filters, g.out_h, g.out_w, filters);
  src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  if (g.k_h == 1 && g.k_w == 1 && g.stride_h == 1 && g.stride_w == 1) {
    // Pointwise: every pixel is its own window.
    src.open(fmt::format("for (int p = 0; p < {}; ++p, x += {}, y += {})", g.out_pixels(), c_in,
                         filters));
    src.open(fmt::format("for (int f = 0; f < {}; ++f)", filters));
    src.linef("float acc = {}[f];", b_id);
    src.linef("for (int c = 0; c < {}; ++c) acc += {}[f][c] * x[c];", c_in, w_id);
    store(src, "y[f]", act, "acc");
    src.close();
    src.close();
    src.close();
    return;
  }
  AxisBounds by, bx;
  open_pixel_loops(src, g, filters, &by, &bx);
  // One window row (kx, c) is contiguous in x and in w[f].
  const std::string row_len = bx.clipped() ? times(bx.extent(), c_in) : std::to_string(g.k_w * c_in);
  src.open(fmt::format("for (int f = 0; f < {}; ++f)", filters));
  src.linef("float acc = {}[f];", b_id);
  src.open(fmt::format("for (int ky = {}; ky < {}; ++ky)", by.lo, by.hi));
  src.linef("const float* xr = x + {};",
            times(fmt::format("(iy0 + ky) * {} + {}", g.in_w, plus("ix0", bx.lo)), c_in));
  src.linef("const float* wr = &{}[f][{}];", w_id,
            times(plus(fmt::format("ky * {}", g.k_w), bx.lo), c_in));
  src.linef("for (int i = 0; i < {}; ++i) acc += wr[i] * xr[i];", row_len);
  src.close();
  store(src, "y[f]", act, "acc");
  src.close();
  src.close();
  src.close();
  src.close();
}

// x: (H, W, C)  w: (kh * kw, C * M)  b: (C * M)  y: (OH, OW, C * M); output channel c * M + m.
void emit_depthwise(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& wt = m.tensor(op.inputs[1]);
  const bool same = op_same_padding(op);
  const Window g = make_window(op, xt.shape, {wt.shape[1], wt.shape[2]},
                               op_pair(op, "stride", {1, 1}), same);
  const int64_t c_in = g.in_c, c_out = wt.shape[3], mult = c_out / c_in;
  const ActKind act = op_activation(op, true);
  const std::string& w_id = ctx.constant_array(op.inputs[1], int64_t{g.k_h} * g.k_w);
  const std::string& b_id = ctx.constant_array(op.inputs[2]);
  CodeWriter& src = ctx.src;
  src.linef("// {}: depthwise_conv2d {}, depth multiplier {}, {} -> {}, activation {}. {} MACs.",
            op.name, window_str(g, same), mult, shape_str(sample(xt.shape)),
            shape_str(sample(m.tensor(op.outputs[0]).shape)), act_name(act),
            g.out_pixels() * c_out * g.k_h * g.k_w);
  src.linef("// x: ({}, {}, {})  w: ({} x {}, {})  b: ({})  y: ({}, {}, {})", g.in_h, g.in_w,
            c_in, g.k_h, g.k_w, c_out, c_out, g.out_h, g.out_w, c_out);
  src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  AxisBounds by, bx;
  open_pixel_loops(src, g, c_out, &by, &bx);
  src.open(fmt::format("for (int c = 0; c < {}; ++c)", c_in));
  std::string o = "c";
  if (mult > 1) {
    src.open(fmt::format("for (int j = 0; j < {}; ++j)", mult));
    src.linef("const int o = c * {} + j;", mult);
    o = "o";
  }
  src.linef("float acc = {}[{}];", b_id, o);
  src.open(fmt::format("for (int ky = {}; ky < {}; ++ky)", by.lo, by.hi));
  src.open(fmt::format("for (int kx = {}; kx < {}; ++kx)", bx.lo, bx.hi));
  src.linef("acc += x[{} + c] * {}[ky * {} + kx][{}];",
            times(fmt::format("(iy0 + ky) * {} + ix0 + kx", g.in_w), c_in), w_id, g.k_w, o);
  src.close();
  src.close();
  store(src, fmt::format("y[{}]", o), act, "acc");
  if (mult > 1) src.close();
  src.close();
  src.close();
  src.close();
  src.close();
}

// x: (H, W, C)  y: (OH, OW, C). Channel by channel, so that in place (pool_in_place) each
// y[c] is written after the last read of the input value it replaces.
void emit_pool(EmitContext& ctx, const Op& op, const std::string& fn, bool max) {
  const Tensor& xt = ctx.model.tensor(op.inputs[0]);
  const Window g = pool_window(op, xt.shape);
  const int64_t c_n = g.in_c;
  CodeWriter& src = ctx.src;
  src.linef("// {}: {} {}, {} -> ({}, {}, {}){}.", op.name, max ? "max_pool2d" : "avg_pool2d",
            window_str(g, op_same_padding(op)), shape_str(sample(xt.shape)), g.out_h, g.out_w,
            c_n, max ? "" : "; the mean of the in-image values");
  src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  AxisBounds by, bx;
  open_pixel_loops(src, g, c_n, &by, &bx);
  std::string inv;
  if (!max) {
    if (by.clipped() || bx.clipped()) {
      src.linef("const float inv = 1.0f / static_cast<float>({} * {});", par(by.extent()),
                par(bx.extent()));
      inv = "inv";
    } else {
      inv = float_literal(1.0f / static_cast<float>(g.k_h * g.k_w), "pool size");
    }
  }
  const std::string at =
      fmt::format("x[{} + c]", times(fmt::format("(iy0 + ky) * {} + ix0 + kx", g.in_w), c_n));
  src.open(fmt::format("for (int c = 0; c < {}; ++c)", c_n));
  if (max) {
    src.linef("float v = x[{} + c];", times(fmt::format("{} * {} + {}", par(plus("iy0", by.lo)),
                                                         g.in_w, plus("ix0", bx.lo)), c_n));
  } else {
    src.line("float v = 0.0f;");
  }
  src.open(fmt::format("for (int ky = {}; ky < {}; ++ky)", by.lo, by.hi));
  src.open(fmt::format("for (int kx = {}; kx < {}; ++kx)", bx.lo, bx.hi));
  if (max) {
    src.linef("const float t = {};", at);
    src.line("if (t > v) v = t;");
  } else {
    src.linef("v += {};", at);
  }
  src.close();
  src.close();
  src.linef("y[c] = {};", max ? "v" : "v * " + inv);
  src.close();
  src.close();
  src.close();
  src.close();
}

// x: (H * W, C)  y: (C). Channel by channel: in place, y[c] replaces x[0][c] after its last read.
void emit_global_avg_pool(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Shape& s = ctx.model.tensor(op.inputs[0]).shape;
  const int64_t pixels = int64_t{s[1]} * s[2], c_n = s[3];
  ctx.src.linef("// {}: global_avg_pool2d {} -> ({}): the mean of each channel.", op.name,
                shape_str(sample(s)), c_n);
  ctx.src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  ctx.src.open(fmt::format("for (int c = 0; c < {}; ++c)", c_n));
  ctx.src.line("float sum = 0.0f;");
  ctx.src.linef("for (int p = 0; p < {}; ++p) sum += x[p * {} + c];", pixels, c_n);
  ctx.src.linef("y[c] = sum * {};", float_literal(1.0f / static_cast<float>(pixels), "1 / pixels"));
  ctx.src.close();
  ctx.src.close();
}

// A batch_norm that emit could not fold into the op before it: y = act(x * scale + shift) per
// channel, with scale and shift computed here as the reference executor computes them.
void emit_batch_norm(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Shape& s = m.tensor(op.inputs[0]).shape;
  const auto c_n = static_cast<size_t>(s.back());
  const int64_t positions = per_sample(s) / s.back();
  const float eps = op.get_float("epsilon", 1e-3f);
  const FloatBuffer& gamma = m.tensor(op.inputs[1]).f32;
  const FloatBuffer& beta = m.tensor(op.inputs[2]).f32;
  const FloatBuffer& mean = m.tensor(op.inputs[3]).f32;
  const FloatBuffer& var = m.tensor(op.inputs[4]).f32;
  std::vector<std::string> scale(c_n), shift(c_n);
  for (size_t c = 0; c < c_n; ++c) {
    const float inv_std = 1.0f / std::sqrt(var[c] + eps);
    const float sc = gamma[c] * inv_std;
    scale[c] = float_literal(sc, op.name + " scale");
    shift[c] = float_literal(beta[c] - mean[c] * sc, op.name + " shift");
  }
  const std::string scale_id = unique_identifier(op.name + "_scale", &ctx.ids);
  const std::string shift_id = unique_identifier(op.name + "_shift", &ctx.ids);
  ctx.src.linef("// {}: gamma / sqrt(moving_var + {}) and beta - moving_mean * scale.", op.name,
                eps);
  ctx.src.raw(fmt::format("alignas(16) static const float {}[{}] = {};\n", scale_id, c_n,
                          initializer(scale, 0, 0)));
  ctx.src.raw(fmt::format("alignas(16) static const float {}[{}] = {};\n", shift_id, c_n,
                          initializer(shift, 0, 0)));
  ctx.weights_bytes += static_cast<int64_t>(c_n) * 8;
  const ActKind act = op_activation(op, true);
  ctx.src.linef("// {}: batch_norm over {} positions of {} channels, activation {} (in place "
                "when x == y).", op.name, positions, c_n, act_name(act));
  ctx.src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  ctx.src.open(fmt::format("for (int p = 0; p < {}; ++p, x += {}, y += {})", positions, c_n, c_n));
  ctx.src.open(fmt::format("for (int c = 0; c < {}; ++c)", c_n));
  ctx.src.linef("const float v = x[c] * {}[c] + {}[c];", scale_id, shift_id);
  store(ctx.src, "y[c]", act, "v");
  ctx.src.close();
  ctx.src.close();
  ctx.src.close();
}

}  // namespace

bool pool_in_place(const Model& m, const Op& op) {
  const Window g = pool_window(op, m.tensor(op.inputs[0]).shape);
  return g.pad_top == 0 && g.pad_left == 0;
}

void emit_float_cnn_kernel(EmitContext& ctx, const Op& op, const std::string& fn) {
  const ActKind act = op.type == OpType::kConv2d || op.type == OpType::kDepthwiseConv2d ||
                              op.type == OpType::kBatchNorm
                          ? op_activation(op, true)
                          : ActKind::kNone;
  ctx.needs_math = ctx.needs_math || act == ActKind::kSigmoid || act == ActKind::kTanh;
  switch (op.type) {
    case OpType::kConv2d: return emit_conv2d(ctx, op, fn);
    case OpType::kDepthwiseConv2d: return emit_depthwise(ctx, op, fn);
    case OpType::kMaxPool2d: return emit_pool(ctx, op, fn, true);
    case OpType::kAvgPool2d: return emit_pool(ctx, op, fn, false);
    case OpType::kGlobalAvgPool2d: return emit_global_avg_pool(ctx, op, fn);
    case OpType::kBatchNorm: return emit_batch_norm(ctx, op, fn);
    default:
      unsupported("layer '{}' ({}) cannot be emitted for target '{}' yet (float32)", op.name,
                  op_type_name(op.type), ctx.target.name);
  }
}

}  // namespace tinyc
