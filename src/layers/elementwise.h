// Shared by the binary element-wise layers (add, mul) and their emitted kernels: numpy-style
// broadcasting over per-sample shapes, and the int8 arithmetic of TFLite's reference ADD and
// MUL kernels (reference_integer_ops), with the constants TFLM's Prepare computes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "layers/activation_fn.h"
#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {

// The broadcast of two activation or constant shapes, aligned at their last dimension; a
// dimension of 1 stretches. The result keeps a batch dimension of 1 first.
inline Shape broadcast_shapes(const Op& op, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    const int da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      bad_input("layer '{}' ({}): shapes {} and {} do not broadcast", op.name,
                op_type_name(op.type), shape_str(a), shape_str(b));
    }
    out[i] = std::max(da, db);
  }
  if (out.empty() || out[0] != 1) {
    bad_input("layer '{}' ({}): the broadcast shape {} must start with a batch dimension of 1",
              op.name, op_type_name(op.type), shape_str(out));
  }
  return out;
}

// For each element of one sample of `out` (row-major), the element of `in` it reads; empty
// when `in` has the same number of elements per sample (the identity map). `in` is aligned at
// the last dimension, like broadcast_shapes.
inline std::vector<int32_t> broadcast_map(const Shape& in, const Shape& out) {
  if (shape_size(in) == shape_size(out)) return {};
  const size_t rank = out.size();
  std::vector<int64_t> in_stride(rank, 0);
  int64_t stride = 1;
  for (size_t k = 0; k < in.size(); ++k) {
    const size_t i = in.size() - 1 - k;  // in's dimension i is out's dimension rank - 1 - k
    if (in[i] != 1) in_stride[rank - 1 - k] = stride;
    stride *= in[i];
  }
  std::vector<int32_t> map(static_cast<size_t>(shape_size(out)));
  std::vector<int> pos(rank, 0);
  for (size_t e = 0; e < map.size(); ++e) {
    int64_t idx = 0;
    for (size_t d = 0; d < rank; ++d) idx += pos[d] * in_stride[d];
    map[e] = static_cast<int32_t>(idx);
    for (size_t d = rank; d-- > 0;) {  // odometer over out's dimensions
      if (++pos[d] < out[d]) break;
      pos[d] = 0;
    }
  }
  return map;
}

// TFLM ADD (int8): both inputs shifted left by 20 bits, rescaled to twice the larger input
// scale, summed, rescaled to the output scale, offset and clamped.
struct AddParams {
  int32_t in1_offset = 0, in2_offset = 0, out_offset = 0;  // -zp1, -zp2, +zp_out
  int left_shift = 20;
  QuantizedMultiplier in1, in2, out;
  ActivationRange range;
};

inline AddParams add_params(const TensorQuant& a, const TensorQuant& b, const TensorQuant& y,
                            ActivationRange range) {
  AddParams p;
  p.in1_offset = -a.zero_point;
  p.in2_offset = -b.zero_point;
  p.out_offset = y.zero_point;
  const double twice_max = 2.0 * static_cast<double>(std::max(a.scale, b.scale));
  p.in1 = quantize_multiplier(static_cast<double>(a.scale) / twice_max);
  p.in2 = quantize_multiplier(static_cast<double>(b.scale) / twice_max);
  p.out = quantize_multiplier(twice_max / ((1 << p.left_shift) * static_cast<double>(y.scale)));
  p.range = range;
  return p;
}

inline int8_t add_int8(int32_t a, int32_t b, const AddParams& p) {
  const int32_t sa = multiply_by_quantized_multiplier((a + p.in1_offset) * (1 << p.left_shift), p.in1);
  const int32_t sb = multiply_by_quantized_multiplier((b + p.in2_offset) * (1 << p.left_shift), p.in2);
  int32_t v = multiply_by_quantized_multiplier(sa + sb, p.out) + p.out_offset;
  v = std::min(std::max(v, p.range.min), p.range.max);
  return static_cast<int8_t>(v);
}

// TFLM MUL (int8): the product of the offset inputs rescaled by in1 * in2 / out.
struct MulParams {
  int32_t in1_offset = 0, in2_offset = 0, out_offset = 0;
  QuantizedMultiplier out;
  ActivationRange range;
};

inline MulParams mul_params(const TensorQuant& a, const TensorQuant& b, const TensorQuant& y,
                            ActivationRange range) {
  MulParams p;
  p.in1_offset = -a.zero_point;
  p.in2_offset = -b.zero_point;
  p.out_offset = y.zero_point;
  p.out = quantize_multiplier(static_cast<double>(a.scale) * static_cast<double>(b.scale) /
                              static_cast<double>(y.scale));
  p.range = range;
  return p;
}

inline int8_t mul_int8(int32_t a, int32_t b, const MulParams& p) {
  int32_t v = multiply_by_quantized_multiplier((a + p.in1_offset) * (b + p.in2_offset), p.out) +
              p.out_offset;
  v = std::min(std::max(v, p.range.min), p.range.max);
  return static_cast<int8_t>(v);
}

// The int8 values of one operand of a binary op: an activation's buffer, or a constant's
// values (copied once per call; constants are small in real models).
inline const int8_t* int8_operand(const Int8Binding& b, size_t i, std::vector<int8_t>* storage) {
  if (b.in[i] != nullptr) return b.in[i];
  const Tensor& t = *b.in_tensors[i];
  storage->assign(t.ints.begin(), t.ints.end());
  return storage->data();
}

// The per-tensor parameters of a binary op's operand (a constant may be quantized per tensor).
inline TensorQuant operand_quant(const Op& op, const Tensor& t) { return activation_quant(op, t); }

// The per-sample shape an operand broadcasts from: an activation without its batch dimension,
// a constant without its leading 1s.
inline Shape operand_sample_shape(const Tensor& t) {
  if (!t.is_constant()) return t.sample_shape();
  size_t skip = 0;
  while (skip + 1 < t.shape.size() && t.shape[skip] == 1) ++skip;
  return Shape(t.shape.begin() + static_cast<std::ptrdiff_t>(skip), t.shape.end());
}

// Base of add and mul: y = f(a, b) element-wise with broadcasting and a fused activation
// (none, relu, relu6). Inputs: two tensors, either may be a constant.
class BinaryLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 2);
    op_activation(op, true);
    return {broadcast_shapes(op, in[0], in[1])};
  }

  void forward(const OpBinding& b) const override {
    const Shape out = b.out_tensors[0]->sample_shape();
    const int64_t size = shape_size(out);
    const Operand x = operand(b, 0, out), z = operand(b, 1, out);
    for (int64_t r = 0; r < b.n; ++r) {
      const float* xr = b.in[0] + r * x.row;
      const float* zr = b.in[1] + r * z.row;
      float* y = b.out[0] + r * size;
      for (int64_t e = 0; e < size; ++e) y[e] = apply(xr[x.at(e)], zr[z.at(e)]);
    }
    act_forward(op_activation(*b.op, true), b.out[0], b.n * size);
  }

  // dL/da = dL/dy * dy/da, summed where a was broadcast (and over rows for a constant).
  void backward(const OpBinding& b) const override {
    const Shape out = b.out_tensors[0]->sample_shape();
    const int64_t size = shape_size(out);
    act_backward(op_activation(*b.op, true), b.out[0], b.dout[0], b.n * size);
    for (size_t i = 0; i < 2; ++i) {
      if (b.din[i] == nullptr) continue;
      const Operand x = operand(b, i, out), z = operand(b, 1 - i, out);
      const int64_t din_size = x.row == 0 ? b.in_tensors[i]->size() : b.n * x.row;
      std::fill(b.din[i], b.din[i] + din_size, 0.0f);
      for (int64_t r = 0; r < b.n; ++r) {
        const float* xr = b.in[i] + r * x.row;
        const float* zr = b.in[1 - i] + r * z.row;
        const float* dy = b.dout[0] + r * size;
        float* dx = b.din[i] + r * x.row;
        for (int64_t e = 0; e < size; ++e) {
          dx[x.at(e)] += dy[e] * grad(xr[x.at(e)], zr[z.at(e)]);
        }
      }
    }
  }

 protected:
  virtual float apply(float a, float b) const = 0;
  // d f / d(self) at (self, other): add and mul are symmetric, so one function serves both.
  virtual float grad(float self, float other) const = 0;

  // The int8 kernel over all rows: `fn(a, b)` for each output element.
  template <typename Fn>
  static void forward_int8_binary(const Int8Binding& b, Fn fn) {
    const Shape out = b.out_tensors[0]->sample_shape();
    const int64_t size = shape_size(out);
    std::vector<int8_t> store0, store1;
    const int8_t* x0 = int8_operand(b, 0, &store0);
    const int8_t* x1 = int8_operand(b, 1, &store1);
    const std::vector<int32_t> m0 = broadcast_map(operand_sample_shape(*b.in_tensors[0]), out);
    const std::vector<int32_t> m1 = broadcast_map(operand_sample_shape(*b.in_tensors[1]), out);
    const int64_t row0 = b.in[0] == nullptr ? 0 : b.in_tensors[0]->sample_size();
    const int64_t row1 = b.in[1] == nullptr ? 0 : b.in_tensors[1]->sample_size();
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* a = x0 + r * row0;
      const int8_t* c = x1 + r * row1;
      int8_t* y = b.out[0] + r * size;
      for (int64_t e = 0; e < size; ++e) {
        y[e] = fn(a[m0.empty() ? e : m0[static_cast<size_t>(e)]],
                  c[m1.empty() ? e : m1[static_cast<size_t>(e)]]);
      }
    }
  }

 private:
  struct Operand {
    std::vector<int32_t> map;  // broadcast map, empty for the identity
    int64_t row = 0;           // values per row (0 for a constant)
    int64_t at(int64_t e) const { return map.empty() ? e : map[static_cast<size_t>(e)]; }
  };
  static Operand operand(const OpBinding& b, size_t i, const Shape& out) {
    const Tensor& t = *b.in_tensors[i];
    Operand o;
    o.map = broadcast_map(operand_sample_shape(t), out);
    o.row = t.is_constant() ? 0 : t.sample_size();
    return o;
  }
};

}  // namespace tinyc
