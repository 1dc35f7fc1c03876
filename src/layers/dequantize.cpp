// dequantize: TFLite DEQUANTIZE, int8 -> float32: float(double(scale) * (q - zero_point)). In
// the int8 executor its output buffer holds float32 values (a model's float output); the float
// executor (training) passes values through unchanged.
#include <cstring>

#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

class DequantizeLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    return {in[0]};
  }

  void forward(const OpBinding& b) const override { copy_forward(b); }

  void backward(const OpBinding& b) const override { copy_backward(b); }

  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const TensorQuant xq = activation_quant(op, *b.in_tensors[0]);
    const Tensor& yt = *b.out_tensors[0];
    if (yt.dtype != DType::kFloat32) {
      unsupported("layer '{}' (dequantize): output '{}' is {}; tinyc dequantizes to float32",
                  op.name, yt.name, dtype_name(yt.dtype));
    }
    const int64_t count = b.n * yt.sample_size();
    auto* raw = reinterpret_cast<unsigned char*>(b.out[0]);
    for (int64_t i = 0; i < count; ++i) {
      const float v = dequantize_int8(b.in[0][i], xq.scale, xq.zero_point);
      std::memcpy(raw + 4 * i, &v, 4);
    }
  }
};

}  // namespace

const Layer& dequantize_layer() {
  static const DequantizeLayer layer;
  return layer;
}

}  // namespace tinyc
