// Sparse weights for int8 dense layers (issue 5 item 4): an unstructured-pruned weight matrix
// is written as its nonzero values with their column deltas, row by row, when that takes fewer
// bytes than the dense matrix. The kernel adds exactly the products the dense kernel adds
// (zero weights contribute nothing), in int32 that cannot overflow (accumulator_bound.h), so
// it is bit-exact with the int8 reference executor.
//
// Layout of layer L with `out` rows:
//   L_values[k]   int8    the k-th stored weight, rows one after the other
//   L_deltas[k]   uint8   its column minus the previous stored column of the row (the first:
//                         its column); a gap over 255 columns stores filler zeros every 255
//   L_row_end[o]  uint16 (uint32 when more than 65535 values are stored)  one past row o's
//                         last stored weight
#include "emit/kernels_sparse.h"

#include <algorithm>

#include <fmt/format.h>

#include "layers/activation_fn.h"
#include "tinyc/error.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

constexpr int64_t kMaxDelta = 255;

struct SparseRows {
  std::vector<int64_t> values, deltas, row_end;
  bool wide_rows = false;  // row_end needs uint32
};

// The rows of an (out, in) int8 matrix in the layout above.
SparseRows encode(const Tensor& w) {
  const int64_t out = w.shape[0], in = w.shape[1];
  SparseRows s;
  for (int64_t o = 0; o < out; ++o) {
    int64_t column = 0;
    for (int64_t i = 0; i < in; ++i) {
      const int64_t v = w.ints[static_cast<size_t>(o * in + i)];
      if (v == 0) continue;
      while (i - column > kMaxDelta) {  // filler zero 255 columns on
        column += kMaxDelta;
        s.values.push_back(0);
        s.deltas.push_back(kMaxDelta);
      }
      s.values.push_back(v);
      s.deltas.push_back(i - column);
      column = i;
    }
    s.row_end.push_back(static_cast<int64_t>(s.values.size()));
  }
  if (s.values.empty()) {  // an all-zero matrix: one unused entry, C++ has no empty arrays
    s.values.push_back(0);
    s.deltas.push_back(0);
  }
  s.wide_rows = s.values.size() > 65535;
  return s;
}

int64_t sparse_bytes(const SparseRows& s) {
  return static_cast<int64_t>(s.values.size()) * 2 +
         static_cast<int64_t>(s.row_end.size()) * (s.wide_rows ? 4 : 2);
}

}  // namespace

WeightLayout choose_int8_weight_layout(const Model& m, const Op& op) {
  WeightLayout l;
  if (op.type != OpType::kDense || op.inputs.size() < 2) return l;
  const Tensor& w = m.tensor(op.inputs[1]);
  if (w.dtype != DType::kInt8 || w.shape.size() != 2) return l;
  l.applies = true;
  int64_t zeros = 0;
  for (int64_t v : w.ints) zeros += v == 0 ? 1 : 0;
  l.zero_fraction = w.size() > 0 ? static_cast<double>(zeros) / static_cast<double>(w.size()) : 0.0;
  l.dense_bytes = w.size();
  l.sparse_bytes = sparse_bytes(encode(w));
  l.sparse = l.sparse_bytes < l.dense_bytes;
  l.why = fmt::format("{:.1f}% zeros: sparse {} B {} dense {} B", 100.0 * l.zero_fraction,
                      l.sparse_bytes, l.sparse ? "<" : ">=", l.dense_bytes);
  return l;
}

void emit_sparse_dense(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& wt = m.tensor(op.inputs[1]);
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& yt = m.tensor(op.outputs[0]);
  const bool has_bias = op.inputs.size() > 2 && op.inputs[2] >= 0;
  if (wt.dtype != DType::kInt8 || wt.quant.scale.empty() || xt.quant.scale.size() != 1 ||
      yt.quant.scale.size() != 1 || (has_bias && m.tensor(op.inputs[2]).dtype != DType::kInt32)) {
    unsupported("layer '{}' (dense): sparse int8 emission for target '{}' needs int8 weights, "
                "an int32 bias and per-tensor int8 activations", op.name, ctx.target.name);
  }
  const int64_t out = wt.shape[0], in = wt.shape[1];
  const bool per_channel = wt.quant.axis >= 0;
  const float x_scale = xt.quant.scale[0], y_scale = yt.quant.scale[0];
  const auto zx = static_cast<int32_t>(xt.quant.zero_point[0]);
  const auto zy = static_cast<int32_t>(yt.quant.zero_point[0]);
  const ActKind act = op_activation(op, true);
  const ActivationRange range = activation_range_int8(
      act == ActKind::kRelu ? FusedActivation::kRelu
          : act == ActKind::kRelu6 ? FusedActivation::kRelu6 : FusedActivation::kNone,
      y_scale, zy);
  std::vector<int64_t> bias(static_cast<size_t>(out)), mult(bias.size()), shift(bias.size());
  for (int64_t c = 0; c < out; ++c) {
    // sum((x - zx) * w) + b = sum(x * w) + (b - zx * sum(w)), wrapping as the reference.
    uint32_t folded = has_bias ? static_cast<uint32_t>(m.tensor(op.inputs[2]).ints[static_cast<size_t>(c)]) : 0u;
    for (int64_t i = 0; i < in; ++i) {
      folded -= static_cast<uint32_t>(zx) * static_cast<uint32_t>(wt.ints[static_cast<size_t>(c * in + i)]);
    }
    bias[static_cast<size_t>(c)] = static_cast<int32_t>(folded);
    const QuantizedMultiplier q = requant_multiplier(
        x_scale, wt.quant.scale[per_channel ? static_cast<size_t>(c) : 0], y_scale, per_channel);
    mult[static_cast<size_t>(c)] = q.multiplier;
    shift[static_cast<size_t>(c)] = q.shift;
  }
  const SparseRows s = encode(wt);
  const int64_t stored = static_cast<int64_t>(s.values.size());
  const int64_t nonzero = stored - std::count(s.values.begin(), s.values.end(), 0);
  const std::string base = op.name;
  const std::string v_id = int_array(ctx, base + "_values", "int8_t", 1, s.values, 0,
      fmt::format("{}: the {} nonzero weights of ({}, {}) int8 ({} filler zeros), row by row",
                  wt.name, nonzero, out, in, stored - nonzero));
  const std::string d_id = int_array(ctx, base + "_deltas", "uint8_t", 1, s.deltas, 0,
      fmt::format("{}: column of each value minus the previous one of its row", wt.name));
  const std::string r_id = int_array(ctx, base + "_row_end", s.wide_rows ? "uint32_t" : "uint16_t",
      s.wide_rows ? 4 : 2, s.row_end, 0,
      fmt::format("{}: one past the last value of each row", wt.name));
  const std::string b_id = int_array(ctx, base + "_bias", "int32_t", 4, bias, 0,
      fmt::format("{} bias with the input zero point ({}) folded in: b - zx * sum(w[o])",
                  op.name, zx));
  const std::string m_id = int_array(ctx, base + "_multiplier", "int32_t", 4, mult, 0,
      fmt::format("{} requantization: in_scale * w_scale[o] / out_scale = multiplier[o] * "
                  "2^(shift[o] - 31)", op.name));
  const std::string s_id = int_array(ctx, base + "_shift", "int8_t", 1, shift, 0,
                                     fmt::format("{} requantization shifts", op.name));
  ctx.needs_requantize = true;
  ctx.src.linef("// {}: int8 dense {} -> {}, activation {}, sparse weights: {} MACs for {} "
                "nonzero weights of {}.", op.name, in, out, act_name(act), stored, nonzero, out * in);
  ctx.src.linef("// x: ({}) scale {} zero point {}  w: ({}, {}) sparse  y: ({}) scale {} zero "
                "point {}", in, x_scale, zx, out, in, out, y_scale, zy);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  ctx.src.line("int k = 0;  // index into the values and deltas");
  ctx.src.open(fmt::format("for (int o = 0; o < {}; ++o)", out));
  ctx.src.linef("int32_t acc = {}[o];", b_id);
  ctx.src.line("const int8_t* xi = x;  // x at the column of value k");
  ctx.src.linef("const int end = static_cast<int>({}[o]);", r_id);
  ctx.src.open("for (; k < end; ++k)");
  ctx.src.linef("xi += {}[k];", d_id);
  ctx.src.linef("acc += {}[k] * *xi;", v_id);
  ctx.src.close();
  ctx.src.linef("y[o] = output_int8(acc, {}[o], {}[o], {}, {}, {});", m_id, s_id, zy, range.min,
                range.max);
  ctx.src.close();
  ctx.src.close();
}

}  // namespace tinyc
