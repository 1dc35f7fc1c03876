// Helpers for the int8 reference kernels of src/layers/: per-tensor quantization parameters
// of activation tensors, checked with messages naming the op.
#pragma once

#include <cstdint>
#include <cstring>

#include "tinyc/error.h"
#include "tinyc/layer.h"

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

}  // namespace tinyc
