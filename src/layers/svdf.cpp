// svdf: TFLite's SVDF (singular value decomposition filter), inference only, with exactly
// TFLM's reference arithmetic. Inputs: x (1, I); weights_feature (F, I); weights_time (F, M);
// bias (U) with U = F / rank; state (1, F * M), role state. Output (1, U).
// Attributes: rank, activation (none | relu | relu6 ..., applied by the float path only: TFLM's
// integer path ignores it, and so does this one).
//
// Per invoke: the state (F rows of M values, oldest first) shifts left by one value as one
// flat buffer, the newest value of row f becomes (W_f x)[f]; y[u] = act(b[u] + sum over the
// rank rows f of u of sum_m W_t[f][m] * state[f][m]). int8: the newest values are requantized
// to the state's type (int16 or int8) and scale, the sums to the output's int8.
#include <algorithm>
#include <cstdint>

#include "layers/activation_fn.h"
#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "layers/svdf_params.h"

namespace tinyc {
namespace {

constexpr size_t kX = 0, kWf = 1, kWt = 2, kBias = 3, kState = 4;

struct SvdfDims {
  int64_t input = 0, filters = 0, memory = 0, units = 0, rank = 1;
};

SvdfDims dims_of(const Op& op, const std::vector<const Tensor*>& in) {
  SvdfDims d;
  d.rank = op.get_int("rank", 1);
  d.input = in[kWf]->shape[1];
  d.filters = in[kWf]->shape[0];
  d.memory = in[kWt]->shape[1];
  d.units = d.filters / d.rank;
  return d;
}

class SvdfLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 5);
    require_batched(op, in[kX]);
    const int64_t rank = op.get_int("rank", 0);
    const Shape& wf = in[kWf];
    const Shape& wt = in[kWt];
    if (in[kX].size() != 2 || wf.size() != 2 || wf[1] != in[kX][1] || wt.size() != 2 ||
        wt[0] != wf[0] || rank < 1 || wf[0] % rank != 0) {
      bad_input("layer '{}' (svdf): input {}, weights_feature {}, weights_time {} and rank {} "
                "do not fit", op.name, shape_str(in[kX]), shape_str(wf), shape_str(wt), rank);
    }
    const int units = static_cast<int>(wf[0] / rank);
    if (in[kBias] != Shape{units} || shape_size(in[kState]) != int64_t{wf[0]} * wt[1]) {
      bad_input("layer '{}' (svdf): bias {} or state {} do not match {} units, {} filters of "
                "memory {}", op.name, shape_str(in[kBias]), shape_str(in[kState]), units, wf[0],
                wt[1]);
    }
    op_activation(op, true);
    return {Shape{1, units}};
  }

  int64_t macs(const Op&, const std::vector<Shape>& in, const std::vector<Shape>&) const override {
    return int64_t{in[kWf][0]} * (in[kWf][1] + in[kWt][1]);
  }

  // x: (n, I)  wf: (F, I)  wt: (F, M)  state: (F, M)  y: (n, U); rows run in order.
  void forward(const OpBinding& b) const override {
    if (b.state.size() != 5 || b.state[kState] == nullptr) no_state(*b.op);
    const SvdfDims d = dims_of(*b.op, b.in_tensors);
    const ActKind act = op_activation(*b.op, true);
    const float* wf = b.in[kWf];
    const float* wt = b.in[kWt];
    float* state = b.state[kState];
    std::vector<float> scratch(static_cast<size_t>(d.filters));
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[kX] + r * d.input;
      std::copy(state + 1, state + d.filters * d.memory, state);
      for (int64_t f = 0; f < d.filters; ++f) {
        float dot = 0.0f;
        for (int64_t k = 0; k < d.input; ++k) dot += wf[f * d.input + k] * x[k];
        state[f * d.memory + d.memory - 1] = dot;
      }
      for (int64_t f = 0; f < d.filters; ++f) {
        float s = 0.0f;
        for (int64_t m = 0; m < d.memory; ++m) s += wt[f * d.memory + m] * state[f * d.memory + m];
        scratch[static_cast<size_t>(f)] = s;
      }
      float* y = b.out[0] + r * d.units;
      for (int64_t u = 0; u < d.units; ++u) {
        float v = b.in[kBias][u];
        for (int64_t k = 0; k < d.rank; ++k) v += scratch[static_cast<size_t>(u * d.rank + k)];
        y[u] = v;
      }
      act_forward(act, y, d.units);
    }
  }

  void backward(const OpBinding& b) const override {
    unsupported("layer '{}' (svdf): training is not supported (import a trained .tflite)",
                b.op->name);
  }

  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    if (b.state.size() != 5 || b.state[kState] == nullptr) no_state(op);
    const SvdfDims d = dims_of(op, b.in_tensors);
    const SvdfInt8Params p = svdf_int8_params(op, b.in_tensors, *b.out_tensors[0]);
    const int32_t lo = p.wide_state ? -32768 : -128, hi = p.wide_state ? 32767 : 127;
    const int32_t szp = p.state_zero_point;
    const std::vector<int32_t>& wf = b.in_tensors[kWf]->ints;
    const std::vector<int32_t>& wt = b.in_tensors[kWt]->ints;
    const std::vector<int32_t>& bias = b.in_tensors[kBias]->ints;
    int32_t* state = b.state[kState];
    std::vector<int32_t> scratch(static_cast<size_t>(d.filters));
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* x = b.in[kX] + r * d.input;
      std::copy(state + 1, state + d.filters * d.memory, state);
      for (int64_t f = 0; f < d.filters; ++f) {
        int32_t dot = 0;
        for (int64_t k = 0; k < d.input; ++k) {
          dot += wf[static_cast<size_t>(f * d.input + k)] * (x[k] - p.input_zero_point);
        }
        dot = std::clamp(multiply_by_quantized_multiplier(dot, p.feature), lo, hi);
        // The zero point is added after the clamp and the sum stored in the state's type, as
        // TFLM does (an int8 state wraps).
        const int32_t v = szp + dot;
        state[f * d.memory + d.memory - 1] =
            p.wide_state ? static_cast<int16_t>(v) : static_cast<int8_t>(v);
      }
      for (int64_t f = 0; f < d.filters; ++f) {
        uint32_t s = 0;  // int32 accumulation with two's complement wrap-around
        for (int64_t m = 0; m < d.memory; ++m) {
          s += static_cast<uint32_t>(wt[static_cast<size_t>(f * d.memory + m)] *
                                     (state[f * d.memory + m] - szp));
        }
        scratch[static_cast<size_t>(f)] = static_cast<int32_t>(s);
      }
      int8_t* y = b.out[0] + r * d.units;
      for (int64_t u = 0; u < d.units; ++u) {
        int32_t v = bias[static_cast<size_t>(u)];
        for (int64_t k = 0; k < d.rank; ++k) {  // wraps like TFLM's int32 sum
          v = static_cast<int32_t>(static_cast<uint32_t>(v) +
                                   static_cast<uint32_t>(scratch[static_cast<size_t>(u * d.rank + k)]));
        }
        v = multiply_by_quantized_multiplier(v, p.output) + p.output_zero_point;
        y[u] = static_cast<int8_t>(std::clamp(v, -128, 127));
      }
    }
  }

 private:
  [[noreturn]] static void no_state(const Op& op) {
    unsupported("layer '{}' (svdf): its state must be a state tensor kept by the executor "
                "(svdf runs for inference only)", op.name);
  }
};

}  // namespace

SvdfInt8Params svdf_int8_params(const Op& op, const std::vector<const Tensor*>& in,
                                const Tensor& out) {
  const Tensor& st = *in[kState];
  const Tensor& wt = *in[kWt];
  const Tensor& wf = *in[kWf];
  if (wf.dtype != DType::kInt8 || in[kBias]->dtype != DType::kInt32 ||
      !((st.dtype == DType::kInt16 && wt.dtype == DType::kInt16) ||
        (st.dtype == DType::kInt8 && wt.dtype == DType::kInt8)) ||
      st.quant.scale.size() != 1 || wt.quant.scale.size() != 1 || wf.quant.scale.size() != 1) {
    unsupported("layer '{}' (svdf): int8 SVDF needs int8 feature weights, int32 bias and "
                "per-tensor int16 (or int8) time weights and state", op.name);
  }
  const TensorQuant xq = activation_quant(op, *in[kX]);
  const TensorQuant yq = activation_quant(op, out);
  const float ss = st.quant.scale[0];
  SvdfInt8Params p;
  // TFLM multiplies the float scales in float, then widens: double(float(a * b / c)).
  p.feature = quantize_multiplier(static_cast<double>(xq.scale * wf.quant.scale[0] / ss));
  p.output = quantize_multiplier(static_cast<double>(ss * wt.quant.scale[0] / yq.scale));
  p.input_zero_point = xq.zero_point;
  p.state_zero_point = static_cast<int32_t>(st.quant.zero_point.at(0));
  p.output_zero_point = yq.zero_point;
  p.wide_state = st.dtype == DType::kInt16;
  return p;
}

const Layer& svdf_layer() {
  static const SvdfLayer layer;
  return layer;
}

}  // namespace tinyc
