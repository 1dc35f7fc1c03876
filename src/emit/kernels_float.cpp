// Float32 kernels of emitted code. They compute what the reference executor computes
// (src/layers/*.cpp) in the same order where it matters for rounding (softmax, activations,
// preprocessing), so emitted outputs agree with `tinyc predict` within 1e-5 relative.
#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "layers/activation_fn.h"
#include "layers/layer_util.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

std::string dims_str(const Shape& s) { return shape_str(s); }

void emit_dense(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& w = m.tensor(op.inputs[1]);
  const int64_t out = w.shape[0], in = w.shape[1];
  const ActKind act = op_activation(op, true);
  const std::string& w_id = ctx.constant_array(op.inputs[1]);
  const bool has_bias = op.inputs.size() > 2 && op.inputs[2] >= 0;
  const std::string b_id = has_bias ? ctx.constant_array(op.inputs[2]) : "";
  ctx.src.linef("// {}: dense {} -> {}, activation {}. {} MACs.", op.name, in, out, act_name(act),
                out * in);
  ctx.src.linef("// x: ({})  w: ({}, {})  b: ({})  y: ({})", in, out, in, out, out);
  ctx.src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  ctx.src.open(fmt::format("for (int o = 0; o < {}; ++o)", out));
  ctx.src.line("float acc = 0.0f;");
  ctx.src.linef("for (int i = 0; i < {}; ++i) acc += {}[o][i] * x[i];", in, w_id);
  if (has_bias) ctx.src.linef("acc += {}[o];", b_id);
  if (act == ActKind::kNone) {
    ctx.src.line("y[o] = acc;");
  } else {
    ctx.src.linef("y[o] = {};", float_activation_expr(act, "acc"));
  }
  ctx.src.close();
  ctx.src.close();
}

void emit_activation(EmitContext& ctx, const Op& op, const std::string& fn) {
  const ActKind act = op_activation(op, false);
  const int64_t n = ctx.model.tensor(op.outputs[0]).sample_size();
  ctx.needs_math = ctx.needs_math || act == ActKind::kSigmoid || act == ActKind::kTanh;
  ctx.src.linef("// {}: activation {} over {} values (in place when x == y).", op.name,
                act_name(act), n);
  ctx.src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", n));
  ctx.src.line("const float v = x[i];");
  ctx.src.linef("y[i] = {};", float_activation_expr(act, "v"));
  ctx.src.close();
  ctx.src.close();
}

void emit_softmax(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Shape& shape = ctx.model.tensor(op.outputs[0]).shape;
  const int64_t k = shape.back();
  const int64_t rows = per_sample(shape) / k;
  ctx.needs_math = true;
  ctx.src.linef("// {}: softmax over the last dimension of {} (max subtracted; in place when",
                op.name, dims_str(Shape(shape.begin() + 1, shape.end())));
  ctx.src.line("// x == y).");
  ctx.src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  if (rows > 1) {
    ctx.src.open(fmt::format("for (int r = 0; r < {}; ++r, x += {}, y += {})", rows, k, k));
  }
  ctx.src.line("float m = x[0];");
  ctx.src.linef("for (int i = 1; i < {}; ++i) m = fmaxf(m, x[i]);", k);
  ctx.src.line("float sum = 0.0f;");
  ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", k));
  ctx.src.line("y[i] = expf(x[i] - m);");
  ctx.src.line("sum += y[i];");
  ctx.src.close();
  ctx.src.line("const float inv = 1.0f / sum;");
  ctx.src.linef("for (int i = 0; i < {}; ++i) y[i] *= inv;", k);
  if (rows > 1) ctx.src.close();
  ctx.src.close();
}

}  // namespace

std::string float_activation_expr(ActKind kind, const std::string& v) {
  switch (kind) {
    case ActKind::kNone: return v;
    case ActKind::kRelu: return fmt::format("{0} > 0.0f ? {0} : 0.0f", v);
    case ActKind::kRelu6: return fmt::format("{0} < 0.0f ? 0.0f : ({0} > 6.0f ? 6.0f : {0})", v);
    case ActKind::kSigmoid: return fmt::format("1.0f / (1.0f + expf(-{}))", v);
    case ActKind::kTanh: return fmt::format("tanhf({})", v);
  }
  return v;
}

OpStorage op_storage(const Model& m, const Op& op) {
  switch (op.type) {
    case OpType::kFlatten:
    case OpType::kDropout:
    case OpType::kReshape:
      return OpStorage::kView;
    case OpType::kActivation:
    case OpType::kSoftmax:
    case OpType::kBatchNorm:
    case OpType::kGlobalAvgPool2d:
      return OpStorage::kInPlace;
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d:
      return pool_in_place(m, op) ? OpStorage::kInPlace : OpStorage::kNew;
    default:
      return OpStorage::kNew;
  }
}

void emit_float_kernel(EmitContext& ctx, const Op& op, const std::string& fn) {
  switch (op.type) {
    case OpType::kDense: return emit_dense(ctx, op, fn);
    case OpType::kAdd:
    case OpType::kMul:
    case OpType::kConcatenation:
    case OpType::kPad:
    case OpType::kMean:
      return emit_elementwise_kernel(ctx, op, fn, false);
    case OpType::kActivation: return emit_activation(ctx, op, fn);
    case OpType::kSoftmax: return emit_softmax(ctx, op, fn);
    case OpType::kConv2d:
    case OpType::kDepthwiseConv2d:
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d:
    case OpType::kGlobalAvgPool2d:
    case OpType::kBatchNorm:
      return emit_float_cnn_kernel(ctx, op, fn);
    default:
      unsupported("layer '{}' ({}) cannot be emitted for target '{}' yet (float32)", op.name,
                  op_type_name(op.type), ctx.target.name);
  }
}

void emit_float_copy(EmitContext& ctx, const std::string& fn, int64_t count) {
  ctx.src.linef("// Copies {} values into the caller's output buffer.", count);
  ctx.src.open(fmt::format("static void {}(const float* x, float* y)", fn));
  ctx.src.linef("for (int i = 0; i < {}; ++i) y[i] = x[i];", count);
  ctx.src.close();
}

std::string preprocess_expr(EmitContext& ctx, const std::string& raw, int64_t features) {
  const Preprocess& p = ctx.model.preprocess;
  auto operand = [&](const std::vector<float>& v, const char* what) -> std::string {
    if (v.size() == 1) return float_literal(v[0], std::string("preprocessing ") + what);
    if (static_cast<int64_t>(v.size()) != features) {
      bad_input("model '{}': preprocessing has {} {} values for {} input features",
                ctx.model.name, v.size(), what, features);
    }
    const std::string id = unique_identifier(std::string("preprocess_") + what, &ctx.ids);
    std::vector<std::string> items;
    for (float f : v) items.push_back(float_literal(f, std::string("preprocessing ") + what));
    ctx.src.linef("// Preprocessing {} per input feature ({}).", what, norm_kind_name(p.kind));
    ctx.src.raw(fmt::format("alignas(16) static const float {}[{}] = {};\n", id, v.size(),
                            initializer(items, 0, 0)));
    ctx.weights_bytes += static_cast<int64_t>(v.size()) * 4;
    return id + "[i]";
  };
  const std::string offset = p.offset.empty() ? "" : operand(p.offset, "offset");
  const std::string scale = p.scale.empty() ? "" : operand(p.scale, "scale");
  std::string expr = offset.empty() ? raw : fmt::format("({} - {})", raw, offset);
  if (!scale.empty()) expr += " * " + scale;
  return expr;
}

void emit_float_preprocess(EmitContext& ctx, const std::string& fn, int64_t features) {
  const std::string expr = preprocess_expr(ctx, "raw[i]", features);
  ctx.src.linef("// Preprocessing fitted at training time ({}): x = (raw - offset) * scale.",
                norm_kind_name(ctx.model.preprocess.kind));
  ctx.src.open(fmt::format("static void {}(const float* raw, float* x)", fn));
  ctx.src.linef("for (int i = 0; i < {}; ++i) x[i] = {};", features, expr);
  ctx.src.close();
}

}  // namespace tinyc
