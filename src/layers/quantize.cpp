// quantize: TFLite QUANTIZE. float32 -> int8: clamp(round(x / scale) + zero_point); int8 or
// int16 -> int8, int16 or int32: requantization by in_scale / out_scale (TFLM's Requantize). In the int8
// executor its input buffer holds the input tensor's own dtype (a model's float or int16
// input); the float executor (training) passes values through unchanged.
#include <cstdint>
#include <cstring>

#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

// TFLM's Requantize: (x - zp_in) * in_scale / out_scale + zp_out, clamped to the output type.
struct RequantizeParams {
  QuantizedMultiplier m;
  int32_t in_zp = 0, out_zp = 0, lo = 0, hi = 0;
};

RequantizeParams requantize_params(const Op& op, const Tensor& xt, const Tensor& yt) {
  for (const Tensor* t : {&xt, &yt}) {
    if (t->quant.scale.size() != 1 || t->quant.zero_point.size() != 1 || !(t->quant.scale[0] > 0)) {
      bad_input("layer '{}' (quantize): '{}' needs one positive scale and zero point", op.name,
                t->name);
    }
  }
  RequantizeParams p;
  p.m = quantize_multiplier(static_cast<double>(xt.quant.scale[0]) /
                            static_cast<double>(yt.quant.scale[0]));
  p.in_zp = static_cast<int32_t>(xt.quant.zero_point[0]);
  p.out_zp = static_cast<int32_t>(yt.quant.zero_point[0]);
  p.lo = yt.dtype == DType::kInt8 ? INT8_MIN : yt.dtype == DType::kInt16 ? INT16_MIN : INT32_MIN;
  p.hi = yt.dtype == DType::kInt8 ? INT8_MAX : yt.dtype == DType::kInt16 ? INT16_MAX : INT32_MAX;
  return p;
}

int32_t requantize(int32_t x, const RequantizeParams& p) {
  const int64_t v = static_cast<int64_t>(multiply_by_quantized_multiplier(x - p.in_zp, p.m)) +
                    p.out_zp;
  return static_cast<int32_t>(v < p.lo ? p.lo : v > p.hi ? p.hi : v);
}

class QuantizeLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    return {in[0]};
  }

  void forward(const OpBinding& b) const override { copy_forward(b); }

  void backward(const OpBinding& b) const override { copy_backward(b); }  // straight-through

  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const Tensor& xt = *b.in_tensors[0];
    const Tensor& yt = *b.out_tensors[0];
    const int64_t count = b.n * xt.sample_size();
    const auto* raw = reinterpret_cast<const unsigned char*>(b.in[0]);
    if (yt.dtype == DType::kInt8 && xt.dtype == DType::kFloat32) {
      const TensorQuant yq = activation_quant(op, yt);
      for (int64_t i = 0; i < count; ++i) {
        float v;
        std::memcpy(&v, raw + 4 * i, 4);
        b.out[0][i] = quantize_int8(v, yq.scale, yq.zero_point);
      }
      return;
    }
    if (xt.dtype != DType::kInt8 && xt.dtype != DType::kInt16) {
      unsupported("layer '{}' (quantize): input '{}' is {}; tinyc quantizes float32, int8 and "
                  "int16", op.name, xt.name, dtype_name(xt.dtype));
    }
    if (yt.dtype != DType::kInt8 && yt.dtype != DType::kInt16 && yt.dtype != DType::kInt32) {
      unsupported("layer '{}' (quantize): output '{}' is {}; tinyc requantizes to int8, int16 "
                  "and int32", op.name, yt.name, dtype_name(yt.dtype));
    }
    const RequantizeParams p = requantize_params(op, xt, yt);
    for (int64_t i = 0; i < count; ++i) {
      int32_t v;
      if (xt.dtype == DType::kInt8) {
        v = b.in[0][i];
      } else {
        int16_t h;
        std::memcpy(&h, raw + 2 * i, 2);
        v = h;
      }
      v = requantize(v, p);
      if (yt.dtype == DType::kInt8) {
        b.out[0][i] = static_cast<int8_t>(v);
      } else if (yt.dtype == DType::kInt16) {
        const auto h = static_cast<int16_t>(v);
        std::memcpy(b.out[0] + 2 * i, &h, 2);
      } else {
        std::memcpy(b.out[0] + 4 * i, &v, 4);
      }
    }
  }
};

}  // namespace

const Layer& quantize_layer() {
  static const QuantizeLayer layer;
  return layer;
}

}  // namespace tinyc
