// Emitted kernels of the TFLite element-wise ops (issue 6): add and mul, float and int8, with
// broadcasting. Two activation inputs give `void fn(const T* x1, const T* x2, T* y)`; a
// constant operand becomes an array and the function keeps the one-input form. int8 uses the
// constants of layers/elementwise.h, so it is bit-exact with the reference executor.
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

void emit_elementwise_kernel(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  const Model& m = ctx.model;
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
