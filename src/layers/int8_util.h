// Helpers for the int8 reference kernels of src/layers/: per-tensor quantization parameters
// of activation tensors, checked with messages naming the op.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "layers/activation_fn.h"
#include "tinyc/error.h"
#include "tinyc/layer.h"
#include "tinyc/quant_math.h"

namespace tinyc {

struct TensorQuant {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

// The per-tensor (scale, zero_point) of an int8 activation tensor.
inline TensorQuant activation_quant(const Op& op, const Tensor& t) {
  if (t.dtype != DType::kInt8 || t.quant.scale.size() != 1 || t.quant.zero_point.size() != 1) {
    bad_input("layer '{}' ({}): tensor '{}' is not an int8 tensor with per-tensor quantization",
              op.name, op_type_name(op.type), t.name);
  }
  return {t.quant.scale[0], static_cast<int32_t>(t.quant.zero_point[0])};
}

// Ops that move int8 values unchanged (flatten, dropout, reshape) need equal parameters.
inline void require_same_quant(const Op& op, const Tensor& in, const Tensor& out) {
  const TensorQuant a = activation_quant(op, in), b = activation_quant(op, out);
  if (a.scale != b.scale || a.zero_point != b.zero_point) {
    bad_input("layer '{}' ({}): int8 output '{}' must share its input's quantization", op.name,
              op_type_name(op.type), out.name);
  }
}

// The int8 kernel of ops that move values unchanged (flatten, dropout at inference, linear).
inline void forward_int8_identity(const Int8Binding& b) {
  require_same_quant(*b.op, *b.in_tensors[0], *b.out_tensors[0]);
  std::memcpy(b.out[0], b.in[0], static_cast<size_t>(b.n * b.out_tensors[0]->sample_size()));
}

// Fixed output parameters (softmax, logistic: 1/256, -128; tanh: 1/128, 0).
inline void require_output_quant(const Op& op, const Tensor& out, float scale, int32_t zp) {
  const TensorQuant q = activation_quant(op, out);
  if (q.scale != scale || q.zero_point != zp) {
    unsupported(
        "layer '{}' ({}): int8 output '{}' has scale {} zero point {}; the int8 kernel "
        "needs scale {} zero point {}",
        op.name, op_type_name(op.type), out.name, q.scale, q.zero_point, scale, zp);
  }
}

// The output clamp of an op's fused activation attribute (none | relu | relu6).
inline ActivationRange fused_range_int8(const Op& op, const TensorQuant& yq) {
  const ActKind act = op_activation(op, true);
  const FusedActivation f = act == ActKind::kRelu    ? FusedActivation::kRelu
                            : act == ActKind::kRelu6 ? FusedActivation::kRelu6
                                                     : FusedActivation::kNone;
  return activation_range_int8(f, yq.scale, yq.zero_point);
}

// The per-output-channel requantization multipliers of CONV_2D and DEPTHWISE_CONV_2D, as
// TFLM's PopulateConvolutionQuantizationParams computes them: double(in) * double(w[c]) /
// double(out) for every channel, a single weight scale broadcast to all `channels` (unlike
// FULLY_CONNECTED, whose per-tensor path rounds the product to float first). Checks the int8
// weights and int32 bias, naming the op.
inline std::vector<QuantizedMultiplier> conv_multipliers(const Op& op, const Tensor& w,
                                                         const Tensor& bias, int64_t channels,
                                                         const TensorQuant& xq,
                                                         const TensorQuant& yq) {
  const auto scales = static_cast<int64_t>(w.quant.scale.size());
  if (w.dtype != DType::kInt8 || bias.dtype != DType::kInt32 ||
      (scales != 1 && scales != channels) ||
      static_cast<int64_t>(bias.ints.size()) != channels) {
    bad_input("layer '{}' ({}): int8 execution needs int8 weights with 1 or {} scales and an "
              "int32 bias of {} values",
              op.name, op_type_name(op.type), channels, channels);
  }
  std::vector<QuantizedMultiplier> m(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const float ws = w.quant.scale[scales == 1 ? 0 : static_cast<size_t>(c)];
    m[static_cast<size_t>(c)] = requant_multiplier(xq.scale, ws, yq.scale, /*per_channel=*/true);
  }
  return m;
}

// TFLite's int8 average of `count` (> 0) values summing to `sum` (AVERAGE_POOL_2D): the
// division rounds half away from zero (C++ division truncates, hence the +-count/2), and the
// result is clamped to [-128, 127].
inline int8_t average_int8(int32_t sum, int32_t count) {
  int32_t v = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
  v = v < -128 ? -128 : v > 127 ? 127 : v;
  return static_cast<int8_t>(v);
}

// clamp(mbqm(acc, m) + zp, range) as int8: the requantizing epilogue of every int8 kernel.
inline int8_t requantize(int32_t acc, QuantizedMultiplier m, int32_t zero_point,
                         ActivationRange range) {
  int32_t v = multiply_by_quantized_multiplier(acc, m) + zero_point;
  v = v < range.min ? range.min : v > range.max ? range.max : v;
  return static_cast<int8_t>(v);
}

}  // namespace tinyc
