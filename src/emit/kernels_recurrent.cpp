// Emitted code of the recurrent layers, lstm (src/layers/lstm.cpp) and svdf
// (src/layers/svdf.cpp), float and int8, bit-exact with the reference kernels.
// svdf: `static void fn(const T* x, T* y, S* state)`, S = float, int8_t (int8 state) or
// int32_t (int16 state held widened). lstm: The kernel runs the T steps of one invoke:
//   static void fn(const T* x, T* y, T* h, C* c)
// where h and c are the layer's state, kept by the emitter in the arena for the whole program
// (set by NAME_reset). The int8 cell state (int16 values) is held widened in int32 words, so
// that the int32 arena is never viewed as int16.
#include <numeric>

#include "emit/emit_internal.h"
#include "layers/lstm_int16.h"
#include "layers/svdf_params.h"
#include "tinyc/error.h"

namespace tinyc {
namespace {

constexpr size_t kWx = 1, kWh = 5, kBias = 9, kH = 13;  // LSTM inputs (14, the cell state, unused here)
const char* const kGateNames[4] = {"input", "forget", "cell", "output"};

std::vector<int64_t> widen(const std::vector<int32_t>& v) { return {v.begin(), v.end()}; }

// The int16 nonlinearities (once per file): TFLite's sigmoid table and its interpolation.
void emit_int16_helpers(EmitContext& ctx) {
  if (ctx.ids.count("lstm_sigmoid_q12")) return;
  ctx.ids.insert("lstm_sigmoid_q12");
  ctx.ids.insert("lstm_tanh_q");
  ctx.ids.insert("lstm_sat16");
  std::vector<int64_t> table(kSigmoidTableU16, kSigmoidTableU16 + 256);
  const std::string tab = int_array(ctx, "lstm_sigmoid_table", "uint16_t", 2, table, 0,
                                    "sigmoid(k / 24) in 0.16 fixed point (TFLite's table)");
  ctx.src.raw(fmt::format(R"(static inline int32_t lstm_sat16(int32_t v) {{
  return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}}

// sigmoid of a Q3.12 value, Q0.15 out (TFLite integer Logistic, int16).
static inline int16_t lstm_sigmoid_q12(int32_t x) {{
  const int32_t v = x * 3;
  const uint32_t a = static_cast<uint32_t>(v < 0 ? -v : v);
  const uint32_t hi = a >> 9;
  uint32_t r = 0x7FFFu << 10;
  if (hi < 255) r = (static_cast<uint32_t>({0}[hi]) << 9) + (a & 0x1FFu) * (static_cast<uint32_t>({0}[hi + 1]) - {0}[hi]);
  r = v >= 0 ? r + (1u << 9) : (1u << 25) - r + (1u << 9) - 1;
  return static_cast<int16_t>(r >> 10);
}}

// tanh of (x * multiplier + round) >> shift in Q3.12 steps, Q0.15 out (TFLite integer Tanh).
static inline int16_t lstm_tanh_q(int32_t x, int32_t multiplier, int shift) {{
  const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
  const int32_t v = (x * multiplier + round) >> shift;
  const uint32_t a = static_cast<uint32_t>(v < 0 ? -v : v);
  const uint32_t hi = a >> 8;
  int32_t r = 0xFFFF << 8;
  if (hi < 255) r = static_cast<int32_t>((static_cast<uint32_t>({0}[hi]) << 8) + (a & 0xFFu) * (static_cast<uint32_t>({0}[hi + 1]) - {0}[hi]));
  r = v >= 0 ? r - (1 << 23) + (1 << 7) : -r + (1 << 23) + (1 << 7) - 1;
  return static_cast<int16_t>(r >> 8);
}}

)", tab));
}

void emit_int8(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  std::vector<const Tensor*> in;
  for (int t : op.inputs) in.push_back(&m.tensor(t));
  const LstmInt8Params p = lstm_int8_params(op, in);
  const int64_t steps = in[0]->shape[1], features = in[0]->shape[2], units = in[kWx]->shape[0];
  emit_int16_helpers(ctx);
  ctx.needs_requantize = true;
  // Zero points folded into per-row constants: sum w * (x - zx) + b = sum w * x + (b - zx *
  // sum w), the same integers as TFLM's loop.
  std::string wx[4], wh[4], bx[4], bh[4];
  for (size_t g = 0; g < 4; ++g) {
    const Tensor& a = *in[kWx + g];
    const Tensor& r = *in[kWh + g];
    std::vector<int64_t> biasx(static_cast<size_t>(units)), biash(static_cast<size_t>(units));
    for (int64_t j = 0; j < units; ++j) {
      const auto ra = a.ints.begin() + j * features, rr = r.ints.begin() + j * units;
      biasx[static_cast<size_t>(j)] = in[kBias + g]->ints[static_cast<size_t>(j)] -
          int64_t{p.input_zero_point} * std::accumulate(ra, ra + features, int64_t{0});
      biash[static_cast<size_t>(j)] =
          -int64_t{p.hidden_zero_point} * std::accumulate(rr, rr + units, int64_t{0});
    }
    const std::string base = op.name + "_" + kGateNames[g];
    wx[g] = int_array(ctx, base + "_wx", "int8_t", 1, widen(a.ints), units,
                      fmt::format("{}: ({}, {}) int8 input weights, scale {}", a.name, units,
                                  features, a.quant.scale[0]));
    wh[g] = int_array(ctx, base + "_wh", "int8_t", 1, widen(r.ints), units,
                      fmt::format("{}: ({}, {}) int8 recurrent weights, scale {}", r.name, units,
                                  units, r.quant.scale[0]));
    bx[g] = int_array(ctx, base + "_bx", "int32_t", 4, biasx, 0,
                      fmt::format("{} gate bias with the input zero point folded in", kGateNames[g]));
    bh[g] = int_array(ctx, base + "_bh", "int32_t", 4, biash, 0,
                      fmt::format("{} gate: the hidden zero point folded in", kGateNames[g]));
  }
  int tanh_shift = 15 + p.cell_scale_power - 3, tanh_mult = 0;
  if (tanh_shift < 0) {
    tanh_shift = -tanh_shift;
    tanh_mult = 3;
  } else {
    tanh_mult = 3 << tanh_shift;
    tanh_shift = 0;
  }
  ctx.src.linef("// {}: int8 LSTM, {} steps of {} features -> {} units; {} MACs.", op.name, steps,
                features, units, steps * 4 * units * (features + units));
  ctx.src.linef("// Gates in Q3.12 -> Q0.15; cell state int16 (scale 2^{}) held in int32 words; "
                "hidden state int8 scale {} zero point {}.", p.cell_scale_power,
                in[kH]->quant.scale[0], p.hidden_zero_point);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y, int8_t* h, int32_t* c)", fn));
  ctx.src.linef("int16_t gate[4][{}];", units);
  ctx.src.open(fmt::format("for (int t = 0; t < {}; ++t)", steps));
  ctx.src.linef("const int8_t* xt = x + t * {};", features);
  for (size_t g = 0; g < 4; ++g) {
    ctx.src.linef("// {} gate", kGateNames[g]);
    ctx.src.open(fmt::format("for (int j = 0; j < {}; ++j)", units));
    ctx.src.linef("int32_t ax = {}[j], ah = {}[j];", bx[g], bh[g]);
    ctx.src.linef("for (int i = 0; i < {}; ++i) ax += {}[j][i] * xt[i];", features, wx[g]);
    ctx.src.linef("for (int i = 0; i < {}; ++i) ah += {}[j][i] * h[i];", units, wh[g]);
    ctx.src.linef("const int32_t v = lstm_sat16(lstm_sat16(requantize(ax, {}, {})) + "
                  "lstm_sat16(requantize(ah, {}, {})));", p.input_fc[g].multiplier,
                  p.input_fc[g].shift, p.recurrent_fc[g].multiplier, p.recurrent_fc[g].shift);
    ctx.src.linef("gate[{}][j] = {};", g, g == 2 ? "lstm_tanh_q(v, 3, 0)" : "lstm_sigmoid_q12(v)");
    ctx.src.close();
  }
  ctx.src.line("// c = f * c + i * g; h = tanh(c) * o");
  ctx.src.open(fmt::format("for (int j = 0; j < {}; ++j)", units));
  ctx.src.linef("int32_t cj = lstm_sat16(lstm_sat16(requantize(gate[1][j] * c[j], {}, {})) + "
                "lstm_sat16(requantize(gate[0][j] * gate[2][j], {}, {})));",
                p.forget_cell.multiplier, p.forget_cell.shift, p.input_cell.multiplier,
                p.input_cell.shift);
  if (p.cell_clip > 0) {
    ctx.src.linef("cj = cj < -{0} ? -{0} : (cj > {0} ? {0} : cj);", p.cell_clip);
  }
  ctx.src.line("c[j] = cj;");
  ctx.src.linef("int32_t hv = {} + requantize(lstm_tanh_q(cj, {}, {}) * gate[3][j], {}, {});",
                p.hidden_zero_point, tanh_mult, tanh_shift, p.hidden.multiplier, p.hidden.shift);
  ctx.src.line("hv = hv < -128 ? -128 : (hv > 127 ? 127 : hv);");
  ctx.src.linef("h[j] = static_cast<int8_t>(hv);");
  ctx.src.linef("y[t * {} + j] = h[j];", units);
  ctx.src.close();
  ctx.src.close();
  ctx.src.close();
}

void emit_float(EmitContext& ctx, const Op& op, const std::string& fn) {
  const Model& m = ctx.model;
  const Tensor& x = m.tensor(op.inputs[0]);
  const int64_t steps = x.shape[1], features = x.shape[2];
  const int64_t units = m.tensor(op.inputs[kWx]).shape[0];
  const float clip = op.get_float("cell_clip", 0.0f);
  ctx.needs_math = true;
  if (!ctx.ids.count("lstm_sigmoid")) {
    ctx.ids.insert("lstm_sigmoid");
    ctx.src.raw(R"(// TFLite's reference logistic, with its cut-offs.
static inline float lstm_sigmoid(float v) {
  if (v > 16.619047164916992188f) return 1.0f;
  if (v < -9.0f) return expf(v);
  return 1.0f / (1.0f + expf(-v));
}

)");
  }
  std::string wx[4], wh[4], b[4];
  for (size_t g = 0; g < 4; ++g) {
    wx[g] = ctx.constant_array(op.inputs[kWx + g]);
    wh[g] = ctx.constant_array(op.inputs[kWh + g]);
    b[g] = ctx.constant_array(op.inputs[kBias + g]);
  }
  ctx.src.linef("// {}: float LSTM, {} steps of {} features -> {} units; {} MACs.", op.name, steps,
                features, units, steps * 4 * units * (features + units));
  ctx.src.open(fmt::format("static void {}(const float* x, float* y, float* h, float* c)", fn));
  ctx.src.linef("float gate[4][{}];", units);
  ctx.src.open(fmt::format("for (int t = 0; t < {}; ++t)", steps));
  ctx.src.linef("const float* xt = x + t * {};", features);
  for (size_t g = 0; g < 4; ++g) {
    ctx.src.linef("// {} gate", kGateNames[g]);
    ctx.src.open(fmt::format("for (int j = 0; j < {}; ++j)", units));
    ctx.src.line("float ax = 0.0f, ah = 0.0f;");
    ctx.src.linef("for (int i = 0; i < {}; ++i) ax += xt[i] * {}[j][i];", features, wx[g]);
    ctx.src.linef("for (int i = 0; i < {}; ++i) ah += h[i] * {}[j][i];", units, wh[g]);
    ctx.src.linef("const float v = (ax + {}[j]) + ah;", b[g]);
    ctx.src.linef("gate[{}][j] = {};", g, g == 2 ? "tanhf(v)" : "lstm_sigmoid(v)");
    ctx.src.close();
  }
  ctx.src.line("// c = f * c + i * g; h = tanh(c) * o");
  ctx.src.open(fmt::format("for (int j = 0; j < {}; ++j)", units));
  ctx.src.line("float cj = gate[1][j] * c[j];");
  ctx.src.line("cj = cj + gate[0][j] * gate[2][j];");
  if (clip > 0.0f) {
    const std::string lit = float_literal(clip, "cell_clip of " + op.name);
    ctx.src.linef("cj = cj < -{0} ? -{0} : (cj > {0} ? {0} : cj);", lit);
  }
  ctx.src.line("c[j] = cj;");
  ctx.src.line("h[j] = tanhf(cj) * gate[3][j];");
  ctx.src.linef("y[t * {} + j] = h[j];", units);
  ctx.src.close();
  ctx.src.close();
  ctx.src.close();
}

void emit_svdf(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  const Model& m = ctx.model;
  std::vector<const Tensor*> in;
  for (int t : op.inputs) in.push_back(&m.tensor(t));
  const int64_t rank = op.get_int("rank", 1), inputs = in[1]->shape[1], filters = in[1]->shape[0];
  const int64_t memory = in[2]->shape[1], units = filters / rank;
  ctx.src.linef("// {}: {} SVDF, {} inputs -> {} filters of memory {} -> {} units (rank {}); "
                "{} MACs.", op.name, int8 ? "int8" : "float", inputs, filters, memory, units,
                rank, filters * (inputs + memory));
  if (!int8) {
    const std::string wf = ctx.constant_array(op.inputs[1]);
    const std::string wt = ctx.constant_array(op.inputs[2]);
    const std::string b = ctx.constant_array(op.inputs[3]);
    const ActKind act = op_activation(op, true);
    ctx.src.open(fmt::format("static void {}(const float* x, float* y, float* s)", fn));
    ctx.src.linef("for (int i = 0; i < {}; ++i) s[i] = s[i + 1];", filters * memory - 1);
    ctx.src.open(fmt::format("for (int f = 0; f < {}; ++f)", filters));
    ctx.src.line("float dot = 0.0f;");
    ctx.src.linef("for (int k = 0; k < {}; ++k) dot += {}[f][k] * x[k];", inputs, wf);
    ctx.src.linef("s[f * {} + {}] = dot;", memory, memory - 1);
    ctx.src.close();
    ctx.src.linef("float scratch[{}];", filters);
    ctx.src.open(fmt::format("for (int f = 0; f < {}; ++f)", filters));
    ctx.src.line("float acc = 0.0f;");
    ctx.src.linef("for (int k = 0; k < {0}; ++k) acc += {1}[f][k] * s[f * {0} + k];", memory, wt);
    ctx.src.line("scratch[f] = acc;");
    ctx.src.close();
    ctx.src.open(fmt::format("for (int u = 0; u < {}; ++u)", units));
    ctx.src.linef("float v = {}[u];", b);
    ctx.src.linef("for (int k = 0; k < {0}; ++k) v += scratch[u * {0} + k];", rank);
    ctx.src.linef("y[u] = {};", float_activation_expr(act, "v"));
    ctx.src.close();
    ctx.src.close();
    return;
  }
  const SvdfInt8Params p = svdf_int8_params(op, in, m.tensor(op.outputs[0]));
  ctx.needs_requantize = true;
  const char* st = p.wide_state ? "int32_t" : "int8_t";
  const char* narrow = p.wide_state ? "int16_t" : "int8_t";
  const std::string wf = int_array(ctx, op.name + "_feature", "int8_t", 1, widen(in[1]->ints),
                                   filters, fmt::format("{}: ({}, {}) int8 feature weights",
                                                        in[1]->name, filters, inputs));
  const std::string wt = int_array(ctx, op.name + "_time", p.wide_state ? "int16_t" : "int8_t",
                                   p.wide_state ? 2 : 1, widen(in[2]->ints), filters,
                                   fmt::format("{}: ({}, {}) time weights", in[2]->name,
                                               filters, memory));
  const std::string b = int_array(ctx, op.name + "_bias", "int32_t", 4, widen(in[3]->ints), 0,
                                  fmt::format("{}: ({}) int32 bias", in[3]->name, units));
  const int32_t lo = p.wide_state ? -32768 : -128, hi = p.wide_state ? 32767 : 127;
  ctx.src.linef("// state: {} values (scale {}, zero point {}); TFLM's integer SVDF applies no "
                "activation.", narrow, in[4]->quant.scale[0], p.state_zero_point);
  ctx.src.open(fmt::format("static void {}(const int8_t* x, int8_t* y, {}* s)", fn, st));
  ctx.src.linef("for (int i = 0; i < {}; ++i) s[i] = s[i + 1];", filters * memory - 1);
  ctx.src.open(fmt::format("for (int f = 0; f < {}; ++f)", filters));
  ctx.src.line("int32_t dot = 0;");
  ctx.src.linef("for (int k = 0; k < {}; ++k) dot += {}[f][k] * (x[k] - {});", inputs, wf,
                p.input_zero_point);
  ctx.src.linef("dot = requantize(dot, {}, {});", p.feature.multiplier, p.feature.shift);
  ctx.src.linef("dot = dot < {0} ? {0} : (dot > {1} ? {1} : dot);", lo, hi);
  ctx.src.linef("s[f * {} + {}] = static_cast<{}>({} + dot);", memory, memory - 1, narrow,
                p.state_zero_point);
  ctx.src.close();
  ctx.src.open(fmt::format("for (int u = 0; u < {}; ++u)", units));
  // The sums wrap like TFLM's int32 arithmetic (unsigned here: no undefined overflow), which
  // real models with large biases reach.
  ctx.src.linef("uint32_t v = static_cast<uint32_t>({}[u]);", b);
  ctx.src.open(fmt::format("for (int f = u * {0}; f < (u + 1) * {0}; ++f)", rank));
  ctx.src.line("uint32_t acc = 0;");
  ctx.src.linef("for (int k = 0; k < {0}; ++k) acc += static_cast<uint32_t>({1}[f][k] * "
                "(s[f * {0} + k] - {2}));", memory, wt, p.state_zero_point);
  ctx.src.line("v += acc;");
  ctx.src.close();
  ctx.src.linef("y[u] = output_int8(static_cast<int32_t>(v), {}, {}, {}, -128, 127);", p.output.multiplier,
                p.output.shift, p.output_zero_point);
  ctx.src.close();
  ctx.src.close();
}

}  // namespace

void emit_svdf_kernel(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  emit_svdf(ctx, op, fn, int8);
}

void emit_lstm_kernel(EmitContext& ctx, const Op& op, const std::string& fn, bool int8) {
  int8 ? emit_int8(ctx, op, fn) : emit_float(ctx, op, fn);
}

}  // namespace tinyc
