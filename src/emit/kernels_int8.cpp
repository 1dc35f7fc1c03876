// int8 kernels of emitted code, bit-exact with the int8 reference executor (the TFLite
// reference kernels' integer arithmetic, DESIGN.md §6). Everything that depends only on
// constants is computed here at emit time with the same tinyc/quant_math.h functions the
// reference executor uses: per-channel multipliers and shifts, clamps, the input zero point
// folded into the bias, lookup tables for element-wise activations (all 256 int8 inputs run
// through the reference kernel) and softmax's exponentials.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "emit/accumulator_bound.h"
#include "emit/emit_internal.h"
#include "emit/window_code.h"
#include "layers/activation_fn.h"
#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "tinyc/error.h"
#include "tinyc/layer.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

// Rows of the DSP dense kernel that share each unpacked input word. Measured on fashion_mlp
// (cortex-m4, -O2, interleaved word layout): 4 rows 1.53, 5 rows 1.64, 6 rows 1.70
// instructions per MAC (GCC spills beyond 4).
constexpr int kDenseRows = 4;

struct ActQuant {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

ActQuant act_quant(const Op& op, const Tensor& t) {
  if (t.dtype != DType::kInt8 || t.quant.scale.size() != 1 || t.quant.zero_point.size() != 1) {
    unsupported("layer '{}' ({}): tensor '{}' is not int8 with per-tensor quantization", op.name,
                op_type_name(op.type), t.name);
  }
  return {t.quant.scale[0], static_cast<int32_t>(t.quant.zero_point[0])};
}

void emit_dense(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& wt = m.tensor(op.inputs[1]);
  const bool has_bias = op.inputs.size() > 2 && op.inputs[2] >= 0;
  if (wt.dtype != DType::kInt8 || wt.quant.scale.empty() ||
      (has_bias && m.tensor(op.inputs[2]).dtype != DType::kInt32)) {
    unsupported("layer '{}' (dense): int8 emission needs int8 weights and an int32 bias", op.name);
  }
  const int64_t out = wt.shape[0], in = wt.shape[1];
  const bool per_channel = wt.quant.axis >= 0;
  const ActQuant xq = act_quant(op, m.tensor(op.inputs[0]));
  const ActQuant yq = act_quant(op, m.tensor(op.outputs[0]));
  const ActKind act = op_activation(op, true);
  const ActivationRange range = activation_range_int8(
      act == ActKind::kRelu ? FusedActivation::kRelu
          : act == ActKind::kRelu6 ? FusedActivation::kRelu6 : FusedActivation::kNone,
      yq.scale, yq.zero_point);
  std::vector<int64_t> w(wt.ints.begin(), wt.ints.end());
  std::vector<int64_t> bias(static_cast<size_t>(out));
  std::vector<QuantizedMultiplier> q(static_cast<size_t>(out));
  for (int64_t c = 0; c < out; ++c) {
    // sum((x - zx) * w) + b = sum(x * w) + (b - zx * sum(w)), in wrapping int32 as the reference.
    uint32_t folded = has_bias ? static_cast<uint32_t>(m.tensor(op.inputs[2]).ints[static_cast<size_t>(c)]) : 0u;
    for (int64_t i = 0; i < in; ++i) {
      folded -= static_cast<uint32_t>(xq.zero_point) * static_cast<uint32_t>(wt.ints[static_cast<size_t>(c * in + i)]);
    }
    bias[static_cast<size_t>(c)] = static_cast<int32_t>(folded);
    q[static_cast<size_t>(c)] = requant_multiplier(
        xq.scale, wt.quant.scale[per_channel ? static_cast<size_t>(c) : 0], yq.scale, per_channel);
  }
  const std::string base = op.name;
  const int64_t groups = in / 4, tail = in % 4;
  const bool dsp = ctx.target.dsp && in >= 8;  // a short row is not worth unpacking
  const std::string w_desc = fmt::format("{}: ({}, {}) int8, symmetric {}", wt.name, out, in,
                                         per_channel ? "per output channel" : "per tensor");
  std::string w_id, t_id;
  if (!dsp) {
    w_id = int_array(ctx, base + "_weights", "int8_t", 1, w, out,
                     fmt::format("{}, {} bytes", w_desc, out * in));
  } else {
    // Words of 4 weights (little-endian), the kDenseRows rows of a block interleaved group
    // by group: block at o (rows o..o+R-1) holds group k of row r at word o * groups + k * R + r,
    // so one pointer walks the block with word loads the compiler may pair (LDRD).
    std::vector<int64_t> words(static_cast<size_t>(out * groups)), rest;
    for (int64_t o0 = 0; o0 < out; o0 += kDenseRows) {
      const int64_t rows = std::min<int64_t>(kDenseRows, out - o0);
      for (int64_t k = 0; k < groups; ++k) {
        for (int64_t r = 0; r < rows; ++r) {
          uint32_t v = 0;
          for (int b = 0; b < 4; ++b) {
            v |= (static_cast<uint32_t>(w[static_cast<size_t>((o0 + r) * in + 4 * k + b)]) & 0xffu) << (8 * b);
          }
          words[static_cast<size_t>(o0 * groups + k * rows + r)] = static_cast<int32_t>(v);
        }
      }
    }
    w_id = int_array(ctx, base + "_weights", "int32_t", 4, words, 0,
        fmt::format("{}, as words of 4 (little-endian), blocks of {} rows interleaved per group",
                    w_desc, kDenseRows));
    if (tail > 0) {
      for (int64_t o = 0; o < out; ++o) {
        for (int64_t i = 0; i < tail; ++i) rest.push_back(w[static_cast<size_t>(o * in + 4 * groups + i)]);
      }
      t_id = int_array(ctx, base + "_weights_tail", "int8_t", 1, rest, out,
                       fmt::format("{}: the last {} inputs' weights of each row", wt.name, tail));
    }
  }
  const std::string b_id = int_array(ctx, base + "_bias", "int32_t", 4, bias, 0,
      fmt::format("{} bias with the input zero point ({}) folded in: b - zx * sum(w[o])",
                  op.name, xq.zero_point));
  const RequantArrays rq = requant_arrays(ctx, base, q);
  ctx.src.linef("// {}: int8 dense {} -> {}, activation {}. {} MACs.", op.name, in, out,
                act_name(act), out * in);
  ctx.src.linef("// x: ({}) scale {} zero point {}  w: ({}, {})  y: ({}) scale {} zero point {}",
                in, xq.scale, xq.zero_point, out, in, out, yq.scale, yq.zero_point);
  auto store = [&](const std::string& acc, const std::string& o) {
    return fmt::format("y[{}] = {};", o,
                       requant_call(rq, acc, o, yq.zero_point, range.min, range.max));
  };
  if (!dsp) {  // portable
    ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
    ctx.src.open(fmt::format("for (int o = 0; o < {}; ++o)", out));
    ctx.src.linef("const int8_t* w = {}[o];", w_id);
    ctx.src.linef("int32_t acc = {}[o];", b_id);
    ctx.src.linef("for (int i = 0; i < {}; ++i) acc += w[i] * x[i];", in);
    ctx.src.line(store("acc", "o"));
    ctx.src.close();
    ctx.src.close();
    return;
  }
  // DSP: SMLAD does two 16-bit multiply-accumulates. Each word of 4 inputs is unpacked by
  // SXTB16 into (x0, x2) and (x1, x3) once per block of kDenseRows rows, as each row's word of
  // weights: one load and two SXTB16, then two SMLAD per row. No scratch: unpacking x again
  // per block costs one instruction more than loading it unpacked.
  ctx.needs_dsp = true;
  ctx.src.linef("// DSP kernel: {} rows at a time share each unpacked word of x.", kDenseRows);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  // One pointer walks the block's interleaved words: its rows' words of a group are adjacent,
  // loaded in pairs (LDRD), and the input pointer is the loop counter.
  auto rows_block = [&](int rows, const std::string& o) {
    for (int r = 0; r < rows; ++r) ctx.src.linef("int32_t acc{} = {}[{} + {}];", r, b_id, o, r);
    ctx.src.linef("const int32_t* w = {} + {};", w_id, times(o, groups));
    // One group of 4 inputs per iteration: unrolling further makes GCC hoist the loads and
    // spill the accumulators (measured on cortex-m4).
    // The block's words of a group in pairs by LDRD with post-increment (load_pair_next): the
    // pointer update is free and the loop 23 instructions per 16 MACs instead of 24 (measured).
    ctx.src.open(fmt::format("for (const int8_t* xp = x; xp != x + {}; xp += 4)", 4 * groups));
    ctx.src.line("const int32_t x_word = read_s8x4(xp);");
    ctx.src.line("const int32_t x_even = __sxtb16(x_word);     // xp[0], xp[2]");
    ctx.src.line("const int32_t x_odd = sxtb16_ror8(x_word);   // xp[1], xp[3]");
    for (int r = 0; r < rows; r += 2) {
      if (r + 1 < rows) {
        ctx.src.linef("int32_t w{}, w{};", r, r + 1);
        ctx.src.linef("load_pair_next(&w, &w{}, &w{});", r, r + 1);
      } else {
        ctx.src.linef("const int32_t w{} = *w++;", r);
      }
    }
    for (int r = 0; r < rows; ++r) {
      ctx.src.linef("acc{0} = __smlad(__sxtb16(w{0}), x_even, acc{0});", r);
      ctx.src.linef("acc{0} = __smlad(sxtb16_ror8(w{0}), x_odd, acc{0});", r);
    }
    ctx.src.close();
    if (tail > 0) {
      ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", tail));
      for (int r = 0; r < rows; ++r) {
        ctx.src.linef("acc{} += {}[{}][i] * x[{} + i];", r, t_id, plus(o, std::to_string(r)),
                      groups * 4);
      }
      ctx.src.close();
    }
    for (int r = 0; r < rows; ++r) {
      ctx.src.line(store("acc" + std::to_string(r), fmt::format("{} + {}", o, r)));
    }
  };
  const int64_t blocks = out / kDenseRows * kDenseRows;
  if (blocks > 0) {
    ctx.src.open(fmt::format("for (int o = 0; o < {}; o += {})", blocks, kDenseRows));
    rows_block(kDenseRows, "o");
    ctx.src.close();
  }
  if (out % kDenseRows != 0) {
    ctx.src.open("");
    rows_block(static_cast<int>(out % kDenseRows), std::to_string(blocks));
    ctx.src.close();
  }
  ctx.src.close();
}

// Element-wise ops (activation of any kind): the reference kernel run once over all 256 int8
// inputs gives a table; the emitted function looks each value up.
void emit_lookup(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& xt = m.tensor(op.inputs[0]);
  const Tensor& yt = m.tensor(op.outputs[0]);
  const int64_t width = yt.sample_size();
  std::vector<int8_t> x(static_cast<size_t>(256 * width)), y(x.size());
  for (int v = 0; v < 256; ++v) {
    std::memset(x.data() + v * width, v - 128, static_cast<size_t>(width));
  }
  Int8Binding b;
  b.op = &op;
  b.in_tensors = {&xt};
  b.out_tensors = {&yt};
  b.in = {x.data()};
  b.out = {y.data()};
  b.n = 256;
  layer_for(op.type).forward_int8(b);
  std::vector<int64_t> table(256);
  for (int v = 0; v < 256; ++v) table[static_cast<size_t>(v)] = y[static_cast<size_t>(v * width)];
  const ActQuant xq = act_quant(op, xt), yq = act_quant(op, yt);
  const std::string t_id = int_array(ctx, op.name + "_table", "int8_t", 1, table, 0,
      fmt::format("{}: {} of every int8 input x, at index x + 128", op.name,
                  op.get_str("activation", op_type_name(op.type))));
  ctx.src.linef("// {}: int8 {} over {} values by table lookup (in place when x == y).", op.name,
                op.get_str("activation", op_type_name(op.type)), width);
  ctx.src.linef("// x: scale {} zero point {}  y: scale {} zero point {}", xq.scale,
                xq.zero_point, yq.scale, yq.zero_point);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  ctx.src.linef("for (int i = 0; i < {}; ++i) y[i] = {}[x[i] + 128];", width, t_id);
  ctx.src.close();
}

void emit_softmax(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const ActQuant xq = act_quant(op, m.tensor(op.inputs[0]));
  // An int16 output (NAME_invoke_raw of imported models): TFLite Softmax<int8_t, int16_t>.
  const Tensor& yt = m.tensor(op.outputs[0]);
  const bool wide = yt.dtype == DType::kInt16 && yt.quant.scale.size() == 1 &&
                    yt.quant.zero_point.size() == 1;
  const ActQuant yq = wide ? ActQuant{yt.quant.scale[0], static_cast<int32_t>(yt.quant.zero_point[0])}
                           : act_quant(op, yt);
  if (wide ? yq.zero_point != -32768 || std::fabs(yq.scale - 1.0f / 65536) > 0.001f / 65536
           : yq.scale != 1.0f / 256.0f || yq.zero_point != -128) {
    unsupported("layer '{}' (softmax): {} output must have scale {} and zero point {}", op.name,
                wide ? "int16" : "int8", wide ? "1/65536" : "1/256", wide ? -32768 : -128);
  }
  const SoftmaxParams p = softmax_params(xq.scale, op.get_float("beta", 1.0f));
  // exp(x - max) in Q0 for every difference max - x = 0..255 (0 where the reference skips it).
  std::vector<int64_t> table;
  for (int d = 0; d < 256; ++d) {
    if (-d < p.diff_min) break;
    const int32_t rescaled = multiply_by_quantized_multiplier_greater_than_one(
        -d, p.input_multiplier, p.input_left_shift);
    table.push_back(fixed_exp_on_negative_values(rescaled, 5));
  }
  while (table.size() > 1 && table.back() == 0) table.pop_back();
  const Shape& shape = m.tensor(op.outputs[0]).shape;
  const int64_t k = shape.back();
  const int64_t rows = per_sample(shape) / k;
  const std::string t_id = int_array(ctx, op.name + "_exp", "int32_t", 4, table, 0,
      fmt::format("{}: exp(-d * input_scale) in Q0 for d = max - x = 0..{}; smaller terms are 0",
                  op.name, table.size() - 1));
  ctx.needs_softmax = true;
  ctx.needs_requantize = true;
  ctx.src.linef("// {}: int8 softmax over the last dimension ({} values{}); x: scale {} zero point",
                op.name, k, rows > 1 ? fmt::format(", {} rows", rows) : "", xq.scale);
  ctx.src.linef("// {}; y: scale {} zero point {}. In place when x == y.", xq.zero_point,
                wide ? "1/65536" : "1/256", wide ? -32768 : -128);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, {}* y)", fn, wide ? "int16_t" : "int8_t"));
  if (rows > 1) ctx.src.open(fmt::format("for (int r = 0; r < {}; ++r, x += {}, y += {})", rows, k, k));
  ctx.src.line("int32_t max = x[0];");
  ctx.src.linef("for (int i = 1; i < {}; ++i) max = x[i] > max ? x[i] : max;", k);
  ctx.src.line("uint32_t sum = 0;  // Q12, wrapping like the reference");
  ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", k));
  ctx.src.line("const int32_t d = max - x[i];");
  ctx.src.linef("if (d < {}) sum += static_cast<uint32_t>(rounding_divide_by_pot({}[d], 12));",
                table.size(), t_id);
  ctx.src.close();
  ctx.src.line("int bits_over_unit = 0;");
  ctx.src.line("const int32_t scale = reciprocal_q12(static_cast<int32_t>(sum), &bits_over_unit);");
  ctx.src.open(fmt::format("for (int i = 0; i < {}; ++i)", k));
  ctx.src.line("const int32_t d = max - x[i];");
  ctx.src.linef("const int32_t e = d < {} ? {}[d] : 0;", table.size(), t_id);
  if (wide) {
    ctx.src.line("int32_t v = rounding_divide_by_pot(high_mul(scale, e), bits_over_unit + 15) - 32768;");
    ctx.src.line("v = v > 32767 ? 32767 : v;");
    ctx.src.line("y[i] = static_cast<int16_t>(v < -32768 ? -32768 : v);");
  } else {
    ctx.src.line("int32_t v = rounding_divide_by_pot(high_mul(scale, e), bits_over_unit + 23) - 128;");
    ctx.src.line("v = v > 127 ? 127 : v;");
    ctx.src.line("y[i] = static_cast<int8_t>(v < -128 ? -128 : v);");
  }
  ctx.src.close();
  if (rows > 1) ctx.src.close();
  ctx.src.close();
}

}  // namespace

std::string int_array(EmitContext& ctx, const std::string& name, const char* type, int type_bytes,
                      const std::vector<int64_t>& values, int64_t rows, const std::string& comment) {
  const std::string id = unique_identifier(name, &ctx.ids);
  std::vector<std::string> items;
  for (int64_t v : values) items.push_back(std::to_string(v));
  const auto n = static_cast<int64_t>(values.size());
  const std::string dims = rows > 0 ? fmt::format("[{}][{}]", rows, n / rows) : fmt::format("[{}]", n);
  ctx.src.linef("// {}", comment);
  ctx.src.raw(fmt::format("alignas(16) static const {} {}{} = {};\n", type, id, dims,
                          initializer(items, rows, 0)));
  ctx.weights_bytes += n * type_bytes;
  return id;
}

RequantArrays requant_arrays(EmitContext& ctx, const std::string& name,
                             const std::vector<QuantizedMultiplier>& q) {
  bool hi = true;
  std::vector<int64_t> mult, rounding, shift;
  for (const QuantizedMultiplier& v : q) {
    hi = hi && v.multiplier >= 0 && v.shift <= -1 && v.shift >= -31;
    mult.push_back(v.multiplier);
  }
  for (const QuantizedMultiplier& v : q) {
    if (hi) rounding.push_back(int64_t{1} << (-v.shift - 1));
    shift.push_back(hi ? -v.shift - 1 : v.shift);
  }
  ctx.needs_requantize = true;
  RequantArrays r;
  r.multiplier = int_array(ctx, name + "_multiplier", "int32_t", 4, mult, 0,
      fmt::format("{} requantization: in_scale * w_scale[o] / out_scale = multiplier[o] * "
                  "2^(shift - 31)", name));
  if (hi) {
    r.rounding = int_array(ctx, name + "_rounding", "int32_t", 4, rounding, 0,
        fmt::format("{} requantization rounding: 2^(-shift - 1) (output_int8_hi)", name));
    r.shift = int_array(ctx, name + "_shift", "int8_t", 1, shift, 0,
        fmt::format("{} requantization: -shift - 1 (output_int8_hi)", name));
  } else {
    r.shift = int_array(ctx, name + "_shift", "int8_t", 1, shift, 0,
                        fmt::format("{} requantization shifts", name));
  }
  return r;
}

std::string requant_call(const RequantArrays& r, const std::string& acc, const std::string& index,
                         int32_t zero_point, int32_t lo, int32_t hi) {
  if (r.rounding.empty()) {
    return fmt::format("output_int8({}, {}[{}], {}[{}], {}, {}, {})", acc, r.multiplier, index,
                       r.shift, index, zero_point, lo, hi);
  }
  return fmt::format("output_int8_hi({}, {}[{}], {}[{}], {}[{}], {}, {}, {})", acc, r.multiplier,
                     index, r.rounding, index, r.shift, index, zero_point, lo, hi);
}

FilterConstants filter_constants(EmitContext& ctx, const std::string& name,
                                 const std::vector<QuantizedMultiplier>& q,
                                 const std::vector<int64_t>& bias, int32_t out_zero_point) {
  FilterConstants c;
  for (const QuantizedMultiplier& r : q) {
    c.folded = c.folded && r.multiplier >= 0 && r.shift <= -2 && r.shift >= -22;
  }
  if (!c.folded) {
    c.bias = int_array(ctx, name + "_bias", "int32_t", 4, bias, 0, fmt::format("{} bias", name));
    c.requant = requant_arrays(ctx, name, q);
    return c;
  }
  std::vector<int64_t> rows;
  for (size_t f = 0; f < q.size(); ++f) {
    const int e = -q[f].shift;
    rows.push_back(bias[f]);
    rows.push_back(q[f].multiplier);
    rows.push_back((int64_t{1} << (e - 2)) + int64_t{out_zero_point} * (int64_t{1} << (e - 1)));
    rows.push_back(e - 1);
  }
  ctx.needs_requantize = true;
  c.channels = int_array(ctx, name + "_channels", "int32_t", 4, rows, static_cast<int64_t>(q.size()),
      fmt::format("{} per filter: bias, then requantization (output_int8_folded) in_scale * "
                  "w_scale[f] / out_scale = multiplier * 2^shift: multiplier, 2^(-shift - 2) + "
                  "zero point 2^(-shift - 1), -shift - 1", name));
  return c;
}

bool doubled_rows(const std::vector<QuantizedMultiplier>& q, const std::vector<int64_t>& bias,
                  int32_t out_zero_point, const ActivationRange& range,
                  const std::vector<int64_t>& weights, int32_t in_zero_point,
                  std::vector<int64_t>* out) {
  const size_t taps = weights.size() / q.size();
  std::vector<int64_t> rows;
  for (size_t f = 0; f < q.size(); ++f) {
    // The filter's accumulators lie in [low, high] (inputs x - zx in [-128 - zx, 127 - zx]).
    int64_t abs_sum = 0, sum = 0, low = bias[f], high = bias[f];
    for (size_t k = 0; k < taps; ++k) {
      const int64_t wk = weights[f * taps + k];
      abs_sum += std::llabs(wk);
      sum += wk;
      low += std::min(wk * (-128 - in_zero_point), wk * (127 - in_zero_point));
      high += std::max(wk * (-128 - in_zero_point), wk * (127 - in_zero_point));
    }
    // Requantization is monotonic (multiplier >= 0): where both ends give the same output, so
    // does every accumulator. Such a filter (multiplier 0, or a scale so small that its bias
    // decides, e.g. a ReLU that never fired in training) gets a constant row: bias 0,
    // multiplier 0 and c = 2 v + 1 with e = 1 give v.
    // (Its doubled terms still add up in the kernel: 2 * 255 * sum |w| must fit int32.)
    if (q[f].multiplier >= 0 && low >= INT32_MIN && high <= INT32_MAX &&
        2 * 255 * abs_sum <= INT32_MAX) {
      const int64_t v = requantize(static_cast<int32_t>(low), q[f], out_zero_point, range);
      if (v == requantize(static_cast<int32_t>(high), q[f], out_zero_point, range)) {
        rows.insert(rows.end(), {0, 0, 2 * v + 1, 1});
        continue;
      }
    }
    const QuantizedMultiplier& r = q[f];
    if (r.multiplier < 0 || r.shift > -1 || r.shift < -22) return false;
    // Every partial sum of the doubled terms is twice one of the accumulator bound's: it must
    // stay within int32.
    if (2 * channel_accumulator_bound(bias[f], abs_sum, sum, in_zero_point) > INT32_MAX) {
      return false;
    }
    const int e = -r.shift;
    rows.insert(rows.end(), {2 * bias[f], r.multiplier,
                             (int64_t{1} << (e - 1)) + int64_t{out_zero_point} * (int64_t{1} << e), e});
  }
  *out = std::move(rows);
  return true;
}

FilterConstants doubled_constants(EmitContext& ctx, const std::string& name,
                                  const std::vector<QuantizedMultiplier>& q,
                                  const std::vector<int64_t>& bias, int32_t out_zero_point,
                                  const ActivationRange& range, const std::vector<int64_t>& weights,
                                  int32_t in_zero_point) {
  FilterConstants c;
  c.folded = false;
  std::vector<int64_t> rows;
  if (!doubled_rows(q, bias, out_zero_point, range, weights, in_zero_point, &rows)) return c;
  ctx.needs_requantize = true;
  c.doubled = true;
  c.channels = int_array(ctx, name + "_channels", "int32_t", 4, rows,
      static_cast<int64_t>(q.size()),
      fmt::format("{} per filter, for doubled inputs (output_int8_doubled): 2 bias, then "
                  "in_scale * w_scale[f] / out_scale = multiplier * 2^shift: multiplier, "
                  "2^(-shift - 1) + zero point 2^-shift, -shift", name));
  return c;
}

int64_t int8_scratch_bytes(const Target& target, const Model& m, const Op& op) {
  return dsp_conv_scratch_bytes(target, m, op);
}

void emit_int8_kernel(EmitContext& ctx, const Op& op, const std::string& fn) {
  switch (op.type) {
    case OpType::kDense: return emit_dense(ctx, op, fn);
    case OpType::kAdd:
    case OpType::kMul:
    case OpType::kConcatenation:
    case OpType::kPad:
    case OpType::kMean:
      return emit_elementwise_kernel(ctx, op, fn, true);
    case OpType::kActivation: return emit_lookup(ctx, op, fn);
    case OpType::kSoftmax: return emit_softmax(ctx, op, fn);
    case OpType::kConv2d:
    case OpType::kDepthwiseConv2d:
    case OpType::kMaxPool2d:
    case OpType::kAvgPool2d:
    case OpType::kGlobalAvgPool2d:
      return emit_int8_cnn_kernel(ctx, op, fn);
    default:
      unsupported("layer '{}' ({}) cannot be emitted for target '{}' yet (int8)", op.name,
                  op_type_name(op.type), ctx.target.name);
  }
}

void emit_int8_copy(EmitContext& ctx, const std::string& fn, int64_t count) {
  ctx.src.linef("// Copies {} values into the caller's output buffer.", count);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y)", fn));
  ctx.src.linef("for (int i = 0; i < {}; ++i) y[i] = x[i];", count);
  ctx.src.close();
}

// The integer helpers the kernels call, written once at the top of NAME.cpp.
std::string int8_helpers(bool requantize, bool softmax, bool dsp) {
  std::string s;
  if (!requantize && !softmax) return s;
  s += R"(// gemmlowp / TFLite fixed-point helpers (DESIGN.md §6).
// round(a * b / 2^31), halves away from zero, saturating INT32_MIN * INT32_MIN.
static inline int32_t high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (INT64_C(1) << 30) : 1 - (INT64_C(1) << 30);
  return static_cast<int32_t>((ab + nudge) / (INT64_C(1) << 31));
}

// x / 2^exponent, halves away from zero.
static inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((INT64_C(1) << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * multiplier * 2^(shift - 31) as TFLite's MultiplyByQuantizedMultiplier rounds it, for
// the multipliers of requantization (>= 0, so never the saturating INT32_MIN * INT32_MIN).
// high_mul's rounding, half away from zero with C's truncating division, equals
// floor((ab + 2^30) / 2^31) for every ab: one 64-bit add and shift.
static inline int32_t requantize(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const int32_t shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  const int64_t ab = static_cast<int64_t>(shifted) * multiplier;
  return rounding_divide_by_pot(static_cast<int32_t>((ab + (INT64_C(1) << 30)) >> 31), right);
}

// v saturated to int8, then clamped to [lo, hi] (the fused activation's range within int8).
static inline int8_t clamp_int8(int32_t v, int32_t lo, int32_t hi) {
#if defined(__ARM_FEATURE_SAT)
  __asm__("ssat %0, #8, %1" : "=r"(v) : "r"(v));  // to [-128, 127] in one instruction
#else
  v = v < -128 ? -128 : v > 127 ? 127 : v;
#endif
  if (lo > -128) v = v < lo ? lo : v;
  if (hi < 127) v = v > hi ? hi : v;
  return static_cast<int8_t>(v);
}

// An accumulator requantized to the output's int8 scale, clamped to [lo, hi] (the fused
// activation's range).
static inline int8_t output_int8(int32_t acc, int32_t multiplier, int shift, int32_t zero_point,
                                 int32_t lo, int32_t hi) {
  int32_t v = requantize(acc, multiplier, shift) + zero_point;
  v = v < lo ? lo : v;
  v = v > hi ? hi : v;
  return static_cast<int8_t>(v);
}

// output_int8 for a right shift e = -shift in [1, 31], in one 64-bit multiply-accumulate.
// requantize rounds twice: t = floor((x m + 2^30) / 2^31), then t / 2^e halves away from zero,
// i.e. floor((t + 2^(e-1) - [t < 0]) / 2^e). Nested floor divisions by powers of 2 compose, so
// the result is floor((x m + 2^30 + (2^(e-1) - [t < 0]) 2^31) / 2^(31+e)); [t < 0] may be
// replaced by [x < 0] (m >= 0: they differ only where t = 0, and then both give 0). Called
// with rounding = 2^(e-1) and shift_hi = e - 1 (the division keeps the high word, shifted).
// Proved equal to output_int8 on the host (tests/unit/emit/requant_hi_test.cpp).
static inline int8_t output_int8_hi(int32_t acc, int32_t multiplier, int32_t rounding,
                                    int shift_hi, int32_t zero_point, int32_t lo, int32_t hi) {
  const int32_t units = rounding - static_cast<int32_t>(static_cast<uint32_t>(acc) >> 31);
  // units * 2^31 + 2^30, its high and low words built apart (units * 2^31 has no carry into 2^30).
  const uint32_t nudge_hi = static_cast<uint32_t>(units >> 1);
  const uint32_t nudge_lo = (static_cast<uint32_t>(units) << 31) | 0x40000000u;
  const int64_t nudge = static_cast<int64_t>((static_cast<uint64_t>(nudge_hi) << 32) | nudge_lo);
  const int64_t sum = nudge + static_cast<int64_t>(acc) * multiplier;
  int32_t v = (static_cast<int32_t>(sum >> 32) >> shift_hi) + zero_point;
  return clamp_int8(v, lo, hi);
}

// output_int8_hi with its rounding and the zero point folded into one per-channel constant,
// k_hi = 2^(e-2) + zero_point * 2^(e-1) for e = -shift in [2, 22]: the sum
// x m + 2^30 + 2^(30+e) + zero_point 2^(31+e) - [x < 0] 2^31 fits int64 (|x m| < 2^62, the
// rest < 2^61), and floor(sum / 2^(31+e)) is output_int8_hi's value with the zero point
// added. The constant part has the words (k_hi, 2^30), or (k_hi - 1, 2^30 + 2^31) for x < 0:
// built from x's sign bit in 3 instructions, then one SMLAL. Called with shift_hi = e - 1.
// Proved equal to output_int8 on the host (tests/unit/emit/requant_folded_test.cpp).
static inline int8_t output_int8_folded(int32_t acc, int32_t multiplier, int32_t k_hi,
                                        int shift_hi, int32_t lo, int32_t hi) {
  const uint32_t nudge_lo = (static_cast<uint32_t>(acc) & 0x80000000u) | 0x40000000u;
  const uint32_t nudge_hi = static_cast<uint32_t>(k_hi + (acc >> 31));  // acc >> 31: 0 or -1
  const int64_t sum = static_cast<int64_t>((static_cast<uint64_t>(nudge_hi) << 32) | nudge_lo) +
                      static_cast<int64_t>(acc) * multiplier;
  int32_t v = static_cast<int32_t>(sum >> 32) >> shift_hi;
  return clamp_int8(v, lo, hi);
}

// output_int8 of an accumulator of doubled terms, acc2 = 2 acc (|acc| < 2^30), for a right
// shift e = -shift in [1, 22], with c = 2^(e-1) + zero_point 2^e. requantize's first rounding,
// t = floor((acc m + 2^30) / 2^31), is floor((acc2 m + 2^31) / 2^32): SMMLAR's rounding, which
// adds c in the same instruction. Dividing t by 2^e with halves away from zero is
// floor((t + 2^(e-1) - [t < 0]) / 2^e), where [acc < 0] may replace [t < 0] (output_int8_hi).
// Where lo >= zero_point (a ReLU's range) that term is left out (negative_ties false): every
// acc < 0 then gives at most the zero point, which clamps to lo either way. On the DSP: SMMLAR,
// ASR and SSAT. Proved equal to output_int8 on the host (tests/unit/emit/requant_helpers_test.cpp).
static inline int8_t output_int8_doubled(int32_t acc2, int32_t m, int32_t c, int e,
                                         bool negative_ties, int32_t lo, int32_t hi) {
#if defined(__ARM_FEATURE_DSP)
  int32_t v;
  __asm__("smmlar %0, %1, %2, %3" : "=r"(v) : "r"(acc2), "r"(m), "r"(c));
#else
  int32_t v = c + static_cast<int32_t>((static_cast<int64_t>(acc2) * m + (INT64_C(1) << 31)) >> 32);
#endif
  if (negative_ties) v += acc2 >> 31;
  return clamp_int8(v >> e, lo, hi);
}
)";
  if (dsp) {
    s += R"(
// Keeps a layer's function out of net_invoke_int8: GCC inlines the big kernels called once and
// then allocates registers worse in their hot loops (measured on person_detect).
#if defined(__GNUC__)
#define TINYC_NOINLINE __attribute__((noinline))
#else
#define TINYC_NOINLINE
#endif

// Four int8 values as one word (a single LDR: Cortex-M loads words at any address).
static inline int32_t read_s8x4(const int8_t* p) {
  int32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

// p[k] and p[k + 1] in one LDRD (GCC splits a 64-bit load whose halves it uses apart into two
// LDR); the memory operand tells the compiler what is read. The offset is a template argument:
// LDRD reaches 1020 bytes, less than the addresses GCC may form for a plain memory operand.
template <int k>
static inline void load_pair(const int32_t* p, int32_t* a, int32_t* b) {
  static_assert(k >= 0 && k <= 255, "LDRD offset out of range");
  __asm__("ldrd %0, %1, [%2, %3]" : "=r"(*a), "=r"(*b)
          : "r"(p), "i"(4 * k), "m"(*reinterpret_cast<const int32_t(*)[2]>(p + k)));
}

// (*p)[0] and (*p)[1] in one LDRD that also advances *p by 2 words.
static inline void load_pair_next(const int32_t** p, int32_t* a, int32_t* b) {
  __asm__("ldrd %0, %1, [%2], #8" : "=r"(*a), "=r"(*b), "+r"(*p)
          : "m"(*reinterpret_cast<const int32_t(*)[2]>(*p)));
}

// Bytes 1 and 3 sign-extended into two halfwords: SXTB16 with its built-in rotation (one
// instruction; GCC's <arm_acle.h> has no __ror to combine with __sxtb16).
static inline int32_t sxtb16_ror8(int32_t v) {
  int32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}

// The same, added to the halfwords of `a` (SXTAB16 with rotation).
static inline int32_t sxtab16_ror8(int32_t a, int32_t v) {
  int32_t r;
  __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
  return r;
}

// Where tap k of a row of (x0, x2), (x1, x3) pairs goes, in int16 units.
static inline int sx_slot(int k) { return (k & ~3) | ((k & 1) << 1) | ((k >> 1) & 1); }

// Stores `v` as the int16 number `index` of the words at `base` (through memcpy: the arena's
// words are int32_t).
static inline void store_s16(int32_t* base, int index, int32_t v) {
  const int16_t h = static_cast<int16_t>(v);
  __builtin_memcpy(reinterpret_cast<char*>(base) + 2 * index, &h, 2);
}
)";
  }
  if (softmax) {
    s += R"(
// x * 2^exponent (exponent > 0), saturating.
static inline int32_t saturating_shift_left(int32_t x, int exponent) {
  const int32_t threshold = static_cast<int32_t>((INT64_C(1) << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

static inline int32_t wrap_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}

// 1 / (1 + a) for a in [0, 1), Q0 in and out: three Newton-Raphson steps on the half
// denominator in Q2, starting from 48/17 - 32/17 d.
static int32_t one_over_one_plus_x(int32_t a) {
  const int64_t sum = static_cast<int64_t>(a) + INT32_MAX;
  const int32_t half_denominator = static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
  int32_t x = wrap_add(1515870810, high_mul(half_denominator, -1010580540));
  for (int i = 0; i < 3; ++i) {
    const int32_t one_minus = static_cast<int32_t>(
        (UINT32_C(1) << 29) - static_cast<uint32_t>(high_mul(half_denominator, x)));
    x = wrap_add(x, saturating_shift_left(high_mul(x, one_minus), 2));
  }
  return saturating_shift_left(x, 1);
}

// 1 / sum for a positive Q12 sum, as a Q0 value scaled by 2^-bits_over_unit.
static int32_t reciprocal_q12(int32_t sum, int* bits_over_unit) {
  int leading_zeros = 0;
  while (((static_cast<uint32_t>(sum) << leading_zeros) & 0x80000000u) == 0u) ++leading_zeros;
  *bits_over_unit = 12 - leading_zeros;
  const int32_t shifted_minus_one = static_cast<int32_t>(
      (static_cast<uint32_t>(sum) << leading_zeros) - 0x80000000u);
  return one_over_one_plus_x(shifted_minus_one);
}
)";
  }
  return s + "\n";
}

}  // namespace tinyc
