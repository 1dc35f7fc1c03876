// lstm: TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM (standard LSTM, no peephole / projection /
// layer norm), inference only, with exactly TFLM's reference arithmetic.
// Inputs (15): x (1, T, I); input weights of gates i, f, c, o (H, I); recurrent weights of
// gates i, f, c, o (H, H); biases i, f, c, o (H); hidden state h and cell state c (H
// elements each, role state). Output: (1, T, H), the hidden state after each step.
// Attributes: activation (the cell gate's, tanh), cell_clip (0: none).
//
// Per step: gate_g = act_g(W_g x_t + b_g + U_g h), act = sigmoid for i, f, o; c = f * c +
// i * g_c (clipped); h = tanh(c) * o. Each executor row is one invoke: h and c carry over
// from row to row (the executor's state copies), as in one TFLM interpreter.
//
// int8 (TFLM's 8x8->16 path): the gate products are requantized to int16 Q3.12 (scale 2^-12),
// the nonlinearities give Q0.15 (2^-15), the cell state is int16 with a power-of-two scale,
// the hidden state int8 with its own scale and zero point.
#include <algorithm>
#include <cmath>
#include <vector>

#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "layers/lstm_int16.h"

namespace tinyc {
namespace {

constexpr size_t kInputs = 15;
constexpr size_t kWx = 1, kWh = 5, kBias = 9, kH = 13, kC = 14;

float sigmoid_ref(float v) {
  // TFLite reference Logistic: its cut-offs keep exp from overflowing.
  if (v > 16.619047164916992188f) return 1.0f;
  if (v < -9.0f) return std::exp(v);
  return 1.0f / (1.0f + std::exp(-v));
}

void require_state(const Op& op, const std::vector<float*>& f, const std::vector<int32_t*>& q,
                   bool int8) {
  const bool ok = int8 ? (q.size() == kInputs && q[kH] && q[kC])
                       : (f.size() == kInputs && f[kH] && f[kC]);
  if (!ok) {
    unsupported("layer '{}' (lstm): its hidden and cell state must be state tensors kept by "
                "the executor (lstm runs for inference only)", op.name);
  }
}

class LstmLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, kInputs);
    require_batched(op, in[0]);
    if (in[0].size() != 3) {
      bad_input("layer '{}' (lstm): input {} must be (1, steps, features)", op.name,
                shape_str(in[0]));
    }
    const int steps = in[0][1], features = in[0][2];
    const int units = in[kWx].size() == 2 ? in[kWx][0] : 0;
    for (size_t g = 0; g < 4; ++g) {
      if (in[kWx + g] != Shape{units, features} || in[kWh + g] != Shape{units, units} ||
          in[kBias + g] != Shape{units}) {
        bad_input("layer '{}' (lstm): gate {} weights {} / {} and bias {} do not match {} units "
                  "and {} features", op.name, g, shape_str(in[kWx + g]), shape_str(in[kWh + g]),
                  shape_str(in[kBias + g]), units, features);
      }
    }
    for (size_t s : {kH, kC}) {
      if (shape_size(in[s]) != units) {
        bad_input("layer '{}' (lstm): state {} does not hold {} units", op.name,
                  shape_str(in[s]), units);
      }
    }
    if (op.get_str("activation", "tanh") != "tanh") {
      unsupported("layer '{}' (lstm): cell activation '{}' (only tanh)", op.name,
                  op.get_str("activation", ""));
    }
    return {Shape{1, steps, units}};
  }

  int64_t macs(const Op&, const std::vector<Shape>& in, const std::vector<Shape>&) const override {
    const int64_t steps = in[0][1], features = in[0][2], units = in[kWx][0];
    return steps * 4 * units * (features + units);
  }

  // x: (n, T, I)  w_x: 4 x (H, I)  w_h: 4 x (H, H)  y: (n, T, H); rows run in order.
  void forward(const OpBinding& b) const override {
    require_state(*b.op, b.state, {}, false);
    const int64_t steps = b.in_tensors[0]->shape[1], features = b.in_tensors[0]->shape[2];
    const int64_t units = b.in_tensors[kWx]->shape[0];
    const float clip = b.op->get_float("cell_clip", 0.0f);
    float* h = b.state[kH];
    float* c = b.state[kC];
    std::vector<float> gate(static_cast<size_t>(4 * units));
    for (int64_t r = 0; r < b.n; ++r) {
      for (int64_t t = 0; t < steps; ++t) {
        const float* x = b.in[0] + (r * steps + t) * features;
        for (size_t g = 0; g < 4; ++g) {
          const float* wx = b.in[kWx + g];
          const float* wh = b.in[kWh + g];
          for (int64_t j = 0; j < units; ++j) {
            // Two fully connected ops added afterwards, each summed in order as TFLM does.
            float ax = 0.0f, ah = 0.0f;
            for (int64_t d = 0; d < features; ++d) ax += x[d] * wx[j * features + d];
            for (int64_t d = 0; d < units; ++d) ah += h[d] * wh[j * units + d];
            const float v = (ax + b.in[kBias + g][j]) + ah;
            gate[g * units + j] = g == 2 ? std::tanh(v) : sigmoid_ref(v);
          }
        }
        float* y = b.out[0] + (r * steps + t) * units;
        for (int64_t j = 0; j < units; ++j) {
          float cj = gate[units + j] * c[j];
          cj = cj + gate[j] * gate[2 * units + j];
          if (clip > 0.0f) cj = std::max(std::min(clip, cj), -clip);
          c[j] = cj;
          h[j] = y[j] = std::tanh(cj) * gate[3 * units + j];
        }
      }
    }
  }

  void backward(const OpBinding& b) const override {
    unsupported("layer '{}' (lstm): training recurrent layers is not supported (import a "
                "trained .tflite)", b.op->name);
  }

  void forward_int8(const Int8Binding& b) const override {
    require_state(*b.op, {}, b.state, true);
    const LstmInt8Params p = lstm_int8_params(*b.op, b.in_tensors);
    const int64_t steps = b.in_tensors[0]->shape[1], features = b.in_tensors[0]->shape[2];
    const int64_t units = b.in_tensors[kWx]->shape[0];
    int32_t* h = b.state[kH];
    int32_t* c = b.state[kC];
    std::vector<int16_t> gate(static_cast<size_t>(4 * units));
    auto sat16 = [](int32_t v) { return static_cast<int16_t>(std::clamp(v, -32768, 32767)); };
    for (int64_t r = 0; r < b.n; ++r) {
      for (int64_t t = 0; t < steps; ++t) {
        const int8_t* x = b.in[0] + (r * steps + t) * features;
        for (size_t g = 0; g < 4; ++g) {
          const std::vector<int32_t>& wx = b.in_tensors[kWx + g]->ints;
          const std::vector<int32_t>& wh = b.in_tensors[kWh + g]->ints;
          const std::vector<int32_t>& bias = b.in_tensors[kBias + g]->ints;
          for (int64_t j = 0; j < units; ++j) {
            int32_t ax = 0, ah = 0;
            for (int64_t d = 0; d < features; ++d) {
              ax += wx[static_cast<size_t>(j * features + d)] * (x[d] - p.input_zero_point);
            }
            for (int64_t d = 0; d < units; ++d) {
              ah += wh[static_cast<size_t>(j * units + d)] * (h[d] - p.hidden_zero_point);
            }
            const int16_t fx = sat16(multiply_by_quantized_multiplier(
                ax + bias[static_cast<size_t>(j)], p.input_fc[g]));
            const int16_t fh = sat16(multiply_by_quantized_multiplier(ah, p.recurrent_fc[g]));
            const int16_t v = sat16(fx + fh);
            gate[g * units + j] = g == 2 ? tanh_int16(v, -12) : sigmoid_q12_int16(v);
          }
        }
        int8_t* y = b.out[0] + (r * steps + t) * units;
        for (int64_t j = 0; j < units; ++j) {
          const int16_t fc = sat16(multiply_by_quantized_multiplier(
              gate[units + j] * c[j], p.forget_cell));
          const int16_t ic = sat16(multiply_by_quantized_multiplier(
              gate[j] * gate[2 * units + j], p.input_cell));
          int16_t cj = sat16(fc + ic);
          if (p.cell_clip > 0) {
            cj = std::max<int16_t>(std::min(p.cell_clip, cj), static_cast<int16_t>(-p.cell_clip));
          }
          c[j] = cj;
          const int32_t hv = p.hidden_zero_point +
                             multiply_by_quantized_multiplier(
                                 tanh_int16(cj, p.cell_scale_power) * gate[3 * units + j],
                                 p.hidden);
          h[j] = y[j] = static_cast<int8_t>(std::clamp(hv, -128, 127));
        }
      }
    }
  }
};

float scale_of(const Op& op, const Tensor& t) {
  if (t.quant.scale.size() != 1 || !(t.quant.scale[0] > 0.0f)) {
    unsupported("layer '{}' (lstm): tensor '{}' needs one positive (per-tensor) scale", op.name,
                t.name);
  }
  return t.quant.scale[0];
}

}  // namespace

LstmInt8Params lstm_int8_params(const Op& op, const std::vector<const Tensor*>& in) {
  LstmInt8Params p;
  const Tensor& x = *in[0];
  const Tensor& h = *in[kH];
  const Tensor& c = *in[kC];
  if (h.dtype != DType::kInt8 || c.dtype != DType::kInt16) {
    unsupported("layer '{}' (lstm): int8 LSTM needs an int8 hidden state and an int16 cell "
                "state (got {} and {})", op.name, dtype_name(h.dtype), dtype_name(c.dtype));
  }
  for (size_t g = 0; g < 4; ++g) {
    for (size_t k : {kWx + g, kWh + g}) {
      const Tensor& w = *in[k];
      if (w.dtype != DType::kInt8 || w.quant.zero_point.size() != 1 || w.quant.zero_point[0]) {
        unsupported("layer '{}' (lstm): weights '{}' must be int8, per tensor, zero point 0",
                    op.name, w.name);
      }
    }
    if (in[kBias + g]->dtype != DType::kInt32) {
      unsupported("layer '{}' (lstm): bias '{}' must be int32", op.name, in[kBias + g]->name);
    }
  }
  const double gate_scale = 1.0 / 4096.0, nonlinear_scale = 1.0 / 32768.0;
  const double xs = scale_of(op, x), hs = scale_of(op, h), cs = scale_of(op, c);
  for (size_t g = 0; g < 4; ++g) {
    p.input_fc[g] = quantize_multiplier(xs * scale_of(op, *in[kWx + g]) / gate_scale);
    p.recurrent_fc[g] = quantize_multiplier(hs * scale_of(op, *in[kWh + g]) / gate_scale);
  }
  p.forget_cell = quantize_multiplier(nonlinear_scale * cs / cs);
  p.input_cell = quantize_multiplier(nonlinear_scale * nonlinear_scale / cs);
  p.hidden = quantize_multiplier(nonlinear_scale * nonlinear_scale / hs);
  p.input_zero_point = static_cast<int32_t>(x.quant.zero_point.at(0));
  p.hidden_zero_point = static_cast<int32_t>(h.quant.zero_point.at(0));
  p.cell_scale_power = static_cast<int>(std::lround(std::log2(cs)));
  const double clip = op.get_float("cell_clip", 0.0f);
  if (clip > 0.0) {
    p.cell_clip = static_cast<int16_t>(std::min(std::max(clip / cs, -32768.0), 32767.0));
  }
  return p;
}

const Layer& lstm_layer() {
  static const LstmLayer layer;
  return layer;
}

}  // namespace tinyc
