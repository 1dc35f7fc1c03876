// quantize: TFLite QUANTIZE. float32 -> int8: clamp(round(x / scale) + zero_point); int8 or
// int16 -> int8: requantization by in_scale / out_scale (TFLM's Requantize). In the int8
// executor its input buffer holds the input tensor's own dtype (a model's float or int16
// input); the float executor (training) passes values through unchanged.
#include <cstring>

#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

class QuantizeLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    return {in[0]};
  }

  void forward(const OpBinding& b) const override {
    if (b.out[0] == b.in[0]) return;
    std::memcpy(b.out[0], b.in[0], sizeof(float) * static_cast<size_t>(b.n * b.out_tensors[0]->sample_size()));
  }

  void backward(const OpBinding& b) const override {  // straight-through
    if (b.din[0] == nullptr) return;
    std::memcpy(b.din[0], b.dout[0], sizeof(float) * static_cast<size_t>(b.n * b.out_tensors[0]->sample_size()));
  }

  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const Tensor& xt = *b.in_tensors[0];
    const TensorQuant yq = activation_quant(op, *b.out_tensors[0]);
    const int64_t count = b.n * xt.sample_size();
    const auto* raw = reinterpret_cast<const unsigned char*>(b.in[0]);
    int8_t* y = b.out[0];
    if (xt.dtype == DType::kFloat32) {
      for (int64_t i = 0; i < count; ++i) {
        float v;
        std::memcpy(&v, raw + 4 * i, 4);
        y[i] = quantize_int8(v, yq.scale, yq.zero_point);
      }
      return;
    }
    if (xt.dtype != DType::kInt8 && xt.dtype != DType::kInt16) {
      unsupported("layer '{}' (quantize): input '{}' is {}; tinyc quantizes float32, int8 and "
                  "int16", op.name, xt.name, dtype_name(xt.dtype));
    }
    if (xt.quant.scale.size() != 1 || xt.quant.zero_point.size() != 1 || !(xt.quant.scale[0] > 0)) {
      bad_input("layer '{}' (quantize): input '{}' needs one positive scale", op.name, xt.name);
    }
    const QuantizedMultiplier m = quantize_multiplier(static_cast<double>(xt.quant.scale[0]) /
                                                      static_cast<double>(yq.scale));
    const auto zp = static_cast<int32_t>(xt.quant.zero_point[0]);
    for (int64_t i = 0; i < count; ++i) {
      int32_t v;
      if (xt.dtype == DType::kInt8) {
        v = b.in[0][i];
      } else {
        int16_t h;
        std::memcpy(&h, raw + 2 * i, 2);
        v = h;
      }
      v = multiply_by_quantized_multiplier(v - zp, m) + yq.zero_point;
      y[i] = static_cast<int8_t>(v < -128 ? -128 : v > 127 ? 127 : v);
    }
  }
};

}  // namespace

const Layer& quantize_layer() {
  static const QuantizeLayer layer;
  return layer;
}

}  // namespace tinyc
