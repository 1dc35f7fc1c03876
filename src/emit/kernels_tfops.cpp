// Emitted kernels of the TFLite ops of issue 6: add and mul (float and int8, with
// broadcasting), concatenation, pad and mean. Two activation inputs give `void fn(const T* x1, const T* x2, T* y)`; a
// constant operand becomes an array and the function keeps the one-input form. int8 uses the
// constants of layers/elementwise.h, so it is bit-exact with the reference executor.
#include <algorithm>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "layers/elementwise.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

// An operand as the kernel reads it: a parameter (x1, x2) or a constant array, indexed
// directly or through a broadcast index table.
struct Operand {
  std::string expr;  // "x1[...]" with "{i}" for the index
  bool param = false;
};

Operand operand(EmitContext& ctx, const Op& op, size_t k, const Shape& out, bool int8,
                const std::string& param) {
  const Tensor& t = ctx.model.tensor(op.inputs[k]);
  Operand o;
  std::string base = param;
  if (t.is_constant()) {
    if (int8) {
      base = int_array(ctx, op.name + "_operand" + std::to_string(k), "int8_t", 1,
                       std::vector<int64_t>(t.ints.begin(), t.ints.end()), 0,
                       fmt::format("{}: {} int8 operand of {}", t.name, shape_str(t.shape), op.name));
    } else {
      base = ctx.constant_array(op.inputs[k], 1);
      base += "[0]";
    }
  } else {
    o.param = true;
  }
  const std::vector<int32_t> map = broadcast_map(operand_sample_shape(t), out);
  if (map.empty()) {
    o.expr = base + "[i]";
    return o;
  }
  const std::string idx = int_array(ctx, op.name + "_index" + std::to_string(k),
                                    "int32_t", 4, std::vector<int64_t>(map.begin(), map.end()), 0,
                                    fmt::format("{}: the element of {} {} that each output "
                                                "element reads (broadcast)", op.name, t.name,
                                                shape_str(operand_sample_shape(t))));
  o.expr = fmt::format("{}[{}[i]]", base, idx);
  return o;
}

}  // namespace

// concatenation: `fn(const T* x1, ..., const T* xN, T* y)`; for each index before the axis,
// each input's slice in turn. int8 inputs share the output's quantization (checked by the
// reference kernel's rule, repeated here).
void emit_concatenation(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  const Model& m = ctx.model;
  const Tensor& yt = m.tensor(op.outputs[0]);
  const auto axis = static_cast<size_t>(op.get_int("axis", -1) < 0
      ? op.get_int("axis", -1) + static_cast<int64_t>(yt.shape.size()) : op.get_int("axis", -1));
  int64_t outer = 1, inner = 1;
  for (size_t d = 1; d < axis; ++d) outer *= yt.shape[d];
  for (size_t d = axis + 1; d < yt.shape.size(); ++d) inner *= yt.shape[d];
  const char* type = int8 ? "int8_t" : "float";
  const ActKind act = op_activation(op, true);
  std::string params;
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const Tensor& t = m.tensor(op.inputs[i]);
    if (t.is_constant()) {
      unsupported("layer '{}' (concatenation): a constant input cannot be emitted yet", op.name);
    }
    if (int8 && (!(t.quant == yt.quant) || act != ActKind::kNone)) {
      unsupported("layer '{}' (concatenation): int8 inputs must share the output's quantization "
                  "and no activation be fused", op.name);
    }
    params += fmt::format("const {}* x{}, ", type, i + 1);
  }
  ctx.src.linef("// {}: {} concatenation along axis {} -> {}, activation {}.", op.name, type, axis,
                shape_str(yt.shape), act_name(act));
  ctx.src.open(fmt::format("static void {}({}{}* y)", fn, params, type));
  ctx.src.linef("{}* out = y;", type);
  ctx.src.open(fmt::format("for (int k = 0; k < {}; ++k)", outer));
  for (size_t i = 0; i < op.inputs.size(); ++i) {
    const int64_t len = inner * m.tensor(op.inputs[i]).shape[axis];
    const std::string v = fmt::format("x{}[k * {} + i]", i + 1, len);
    ctx.src.linef("for (int i = 0; i < {}; ++i) out[i] = {};", len,
                  act == ActKind::kNone ? v : float_activation_expr(act, v));
    ctx.src.linef("out += {};", len);
  }
  ctx.src.close();
  ctx.src.close();
}

// pad: the fill value (0, or the int8 zero point), then each innermost run of the input at
// its place in the output: a table of (input offset, output offset) per run.
void emit_pad(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& yt = m.tensor(op.outputs[0]);
  if (int8 && !(xt.quant == yt.quant)) {
    unsupported("layer '{}' (pad): int8 output must share its input's quantization", op.name);
  }
  const Shape in = xt.sample_shape(), out = yt.sample_shape();
  const std::vector<int64_t>& pads = op.attrs.at("pads").ints;
  std::vector<int64_t> out_stride(out.size(), 1);
  for (size_t d = out.size() - 1; d-- > 0;) out_stride[d] = out_stride[d + 1] * out[d + 1];
  const int64_t inner = in.back();
  std::vector<int64_t> offsets;  // pairs: input offset, output offset
  std::vector<int> pos(in.size(), 0);
  for (int64_t r = 0; r < shape_size(in) / inner; ++r) {
    int64_t o = pads[2 * (in.size() - 1)];
    for (size_t d = 0; d + 1 < in.size(); ++d) o += (pos[d] + pads[2 * d]) * out_stride[d];
    offsets.push_back(r * inner);
    offsets.push_back(o);
    for (size_t d = in.size() - 1; d-- > 0;) {
      if (++pos[d] < in[d]) break;
      pos[d] = 0;
    }
  }
  const int64_t runs = static_cast<int64_t>(offsets.size()) / 2;
  const std::string table = int_array(ctx, op.name + "_runs", "int32_t", 4, offsets, runs,
      fmt::format("{}: (input offset, output offset) of each run of {} values", op.name, inner));
  const char* type = int8 ? "int8_t" : "float";
  const std::string fill = int8 ? std::to_string(yt.quant.zero_point.at(0)) : "0.0f";
  ctx.src.linef("// {}: {} pad {} -> {}, padding value {}.", op.name, type, shape_str(xt.shape),
                shape_str(yt.shape), fill);
  ctx.src.open(fmt::format("static void {}(const {}* x, {}* y)", fn, type, type));
  ctx.src.linef("for (int i = 0; i < {}; ++i) y[i] = {};", shape_size(out), fill);
  ctx.src.open(fmt::format("for (int r = 0; r < {}; ++r)", runs));
  ctx.src.linef("for (int i = 0; i < {}; ++i) y[{}[r][1] + i] = x[{}[r][0] + i];", inner, table,
                table);
  ctx.src.close();
  ctx.src.close();
}

// mean: float over any axes (a table maps each input element to its output element); int8
// the reference executor's one case, TFLite's integer mean over H and W with keep_dims.
void emit_mean(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& yt = m.tensor(op.outputs[0]);
  const int64_t in_size = xt.sample_size(), out_size = yt.sample_size();
  const int64_t count = in_size / out_size;
  if (!int8) {
    // Input element e adds to output element map[e]: the reduced axes collapse.
    std::vector<int64_t> map(static_cast<size_t>(in_size));
    const auto& axes = op.attrs.at("axes").ints;
    const Shape& in = xt.shape;
    std::vector<int64_t> stride(in.size(), 0);
    int64_t st = 1;
    for (size_t d = in.size(); d-- > 1;) {
      const bool reduced = std::any_of(axes.begin(), axes.end(), [&](int64_t a) {
        return (a < 0 ? a + static_cast<int64_t>(in.size()) : a) == static_cast<int64_t>(d);
      });
      if (!reduced) stride[d] = st, st *= in[d];
    }
    std::vector<int> pos(in.size(), 0);
    for (size_t e = 0; e < map.size(); ++e) {
      int64_t o = 0;
      for (size_t d = 1; d < in.size(); ++d) o += pos[d] * stride[d];
      map[e] = o;
      for (size_t d = in.size(); d-- > 1;) {
        if (++pos[d] < in[d]) break;
        pos[d] = 0;
      }
    }
    const std::string table = int_array(ctx, op.name + "_target", "int32_t", 4, map, 0,
        fmt::format("{}: the output element each input element adds to", op.name));
    ctx.src.linef("// {}: float mean {} -> {} ({} values each).", op.name, shape_str(xt.shape),
                  shape_str(yt.shape), count);
    ctx.src.open(fmt::format("static void {}(const float* x, float* y)", fn));
    ctx.src.linef("for (int o = 0; o < {}; ++o) y[o] = 0.0f;", out_size);
    ctx.src.linef("for (int e = 0; e < {}; ++e) y[{}[e]] += x[e];", in_size, table);
    ctx.src.linef("for (int o = 0; o < {}; ++o) y[o] /= {}.0f;", out_size, count);
    ctx.src.close();
    return;
  }
  const auto& axes = op.attrs.at("axes").ints;
  const bool gap = xt.shape.size() == 4 && op.get_int("keep_dims", 0) != 0 && axes.size() == 2 &&
                   std::min(axes[0], axes[1]) == 1 && std::max(axes[0], axes[1]) == 2;
  if (!gap) {
    unsupported("layer '{}' (mean): int8 emits the mean over axes 1 and 2 with keep_dims only",
                op.name);
  }
  const TensorQuant xq = activation_quant(op, xt), yq = activation_quant(op, yt);
  const QuantizedMultiplier q = quantize_multiplier(static_cast<double>(xq.scale) /
                                                    static_cast<double>(yq.scale));
  const int64_t c = xt.shape[3];
  ctx.needs_requantize = true;
  ctx.src.linef("// {}: int8 mean over H and W {} -> {}: sum(x - {}), rescaled by in/out scale,",
                op.name, shape_str(xt.shape), shape_str(yt.shape), xq.zero_point);
  ctx.src.linef("// divided by {} (halves away from zero), plus {}.", count, yq.zero_point);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  ctx.src.open(fmt::format("for (int k = 0; k < {}; ++k)", c));
  ctx.src.line("int32_t acc = 0;");
  ctx.src.linef("for (int p = 0; p < {}; ++p) acc += x[p * {} + k] - ({});", count, c, xq.zero_point);
  ctx.src.linef("acc = requantize(acc, {}, {});", q.multiplier, q.shift);
  ctx.src.linef("acc = acc > 0 ? (acc + {0}) / {1} : (acc - {0}) / {1};", count / 2, count);
  ctx.src.linef("acc += {};", yq.zero_point);
  ctx.src.line("y[k] = static_cast<int8_t>(acc < -128 ? -128 : (acc > 127 ? 127 : acc));");
  ctx.src.close();
  ctx.src.close();
}

void emit_elementwise_kernel(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  const Model& m = ctx.model;
  if (op.type == OpType::kMean) return emit_mean(ctx, op, fn, int8);
  if (op.type == OpType::kConcatenation) return emit_concatenation(ctx, op, fn, int8);
  if (op.type == OpType::kPad) return emit_pad(ctx, op, fn, int8);
  if (op.type != OpType::kAdd && op.type != OpType::kMul) {
    unsupported("layer '{}' ({}) cannot be emitted for target '{}' yet", op.name,
                op_type_name(op.type), ctx.target.name);
  }
  const Tensor& yt = m.tensor(op.outputs[0]);
  const Shape out = yt.sample_shape();
  const int64_t size = shape_size(out);
  const char* type = int8 ? "int8_t" : "float";
  const bool add = op.type == OpType::kAdd;
  const Operand a = operand(ctx, op, 0, out, int8, "x1");
  const Operand b = operand(ctx, op, 1, out, int8, a.param ? "x2" : "x1");
  std::string params;
  if (a.param) params += fmt::format("const {}* x1, ", type);
  if (b.param) params += fmt::format("const {}* {}, ", type, a.param ? "x2" : "x1");
  const std::string ai = a.expr, bi = b.expr;
  const ActKind act = op_activation(op, true);
  ctx.src.linef("// {}: {} {} {} {} -> {}, activation {}.", op.name, type,
                shape_str(m.tensor(op.inputs[0]).shape), add ? "+" : "*",
                shape_str(m.tensor(op.inputs[1]).shape), shape_str(yt.shape), act_name(act));
  if (!int8) {
    ctx.src.open(fmt::format("static void {}({}float* y)", fn, params));
    ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", size));
    const std::string v = fmt::format("{} {} {}", ai, add ? "+" : "*", bi);
    if (act == ActKind::kNone) {
      ctx.src.linef("y[i] = {};", v);
    } else {
      ctx.src.linef("const float v = {};", v);
      ctx.src.linef("y[i] = {};", float_activation_expr(act, "v"));
    }
    ctx.src.close();
    ctx.src.close();
    return;
  }
  const TensorQuant yq = activation_quant(op, yt);
  const TensorQuant aq = activation_quant(op, m.tensor(op.inputs[0]));
  const TensorQuant bq = activation_quant(op, m.tensor(op.inputs[1]));
  const ActivationRange range = fused_range_int8(op, yq);
  ctx.needs_requantize = true;
  ctx.src.linef("// a: scale {} zero point {}  b: scale {} zero point {}  y: scale {} zero point {}",
                aq.scale, aq.zero_point, bq.scale, bq.zero_point, yq.scale, yq.zero_point);
  ctx.src.open(fmt::format("static void {}({}int8_t* y)", fn, params));
  ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", size));
  if (add) {
    const AddParams p = add_params(aq, bq, yq, range);
    ctx.src.line("// TFLite ADD: both inputs << 20, rescaled to twice the larger input scale, summed.");
    ctx.src.linef("const int32_t a = requantize(({} + ({})) * {}, {}, {});", ai, p.in1_offset,
                  1 << p.left_shift, p.in1.multiplier, p.in1.shift);
    ctx.src.linef("const int32_t b = requantize(({} + ({})) * {}, {}, {});", bi, p.in2_offset,
                  1 << p.left_shift, p.in2.multiplier, p.in2.shift);
    ctx.src.linef("int32_t v = requantize(a + b, {}, {}) + ({});", p.out.multiplier, p.out.shift,
                  p.out_offset);
  } else {
    const MulParams p = mul_params(aq, bq, yq, range);
    ctx.src.linef("int32_t v = requantize(({} + ({})) * ({} + ({})), {}, {}) + ({});", ai,
                  p.in1_offset, bi, p.in2_offset, p.out.multiplier, p.out.shift, p.out_offset);
  }
  ctx.src.linef("v = v < {} ? {} : (v > {} ? {} : v);", range.min, range.min, range.max, range.max);
  ctx.src.line("y[i] = static_cast<int8_t>(v);");
  ctx.src.close();
  ctx.src.close();
}

}  // namespace tinyc
