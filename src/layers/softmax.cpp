// softmax over the last dimension, numerically stable (max subtracted). With cross-entropy
// the trainer fuses it with the loss and never calls this backward.
#include <cmath>
#include <cstring>
#include <vector>

#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

// TFLM checks an int16 softmax output against (1/65536, -32768) within 0.1% of the scale.
void require_int16_probability(const Op& op, const Tensor& y) {
  const bool ok = y.quant.scale.size() == 1 && y.quant.zero_point.size() == 1 &&
                  y.quant.zero_point[0] == -32768 &&
                  std::fabs(y.quant.scale[0] - 1.0f / 65536) <= 0.001f / 65536;
  if (!ok) {
    bad_input("layer '{}' (softmax): an int16 output needs scale 1/65536 and zero point -32768",
              op.name);
  }
}

class SoftmaxLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    return {in[0]};
  }

  // x: (n, k)  y: (n, k)
  void forward(const OpBinding& b) const override {
    const int64_t k = b.out_tensors[0]->shape.back();
    const int64_t rows = b.n * per_sample(b.out_tensors[0]->shape) / k;
    for (int64_t r = 0; r < rows; ++r) {
      const float* x = b.in[0] + r * k;
      float* y = b.out[0] + r * k;
      float m = x[0];
      for (int64_t i = 1; i < k; ++i) m = std::fmax(m, x[i]);
      float sum = 0.0f;
      for (int64_t i = 0; i < k; ++i) sum += (y[i] = std::exp(x[i] - m));
      const float inv = 1.0f / sum;
      for (int64_t i = 0; i < k; ++i) y[i] *= inv;
    }
  }

  // dx = y * (dy - sum(dy * y))
  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    const int64_t k = b.out_tensors[0]->shape.back();
    const int64_t rows = b.n * per_sample(b.out_tensors[0]->shape) / k;
    for (int64_t r = 0; r < rows; ++r) {
      const float* y = b.out[0] + r * k;
      const float* dy = b.dout[0] + r * k;
      float* dx = b.din[0] + r * k;
      float dot = 0.0f;
      for (int64_t i = 0; i < k; ++i) dot += dy[i] * y[i];
      for (int64_t i = 0; i < k; ++i) dx[i] = y[i] * (dy[i] - dot);
    }
  }

  // int8: TFLite's reference Softmax<int8_t, int8_t> (beta attribute, default 1); the output
  // quantization is fixed at (1/256, -128). An int16 output (imported models) is
  // Softmax<int8_t, int16_t>, fixed at (1/65536, -32768); its buffer holds int16 bytes.
  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const TensorQuant xq = activation_quant(op, *b.in_tensors[0]);
    const SoftmaxParams p = softmax_params(xq.scale, op.get_float("beta", 1.0f));
    const int64_t k = b.out_tensors[0]->shape.back();
    const int64_t rows = b.n * per_sample(b.out_tensors[0]->shape) / k;
    if (b.out_tensors[0]->dtype == DType::kInt16) {
      require_int16_probability(op, *b.out_tensors[0]);
      std::vector<int16_t> row(static_cast<size_t>(k));
      for (int64_t r = 0; r < rows; ++r) {
        softmax_int8_to_int16(b.in[0] + r * k, row.data(), k, p);
        std::memcpy(b.out[0] + 2 * r * k, row.data(), row.size() * 2);
      }
      return;
    }
    require_output_quant(op, *b.out_tensors[0], kProbabilityScale, kProbabilityZeroPoint);
    for (int64_t r = 0; r < rows; ++r) softmax_int8(b.in[0] + r * k, b.out[0] + r * k, k, p);
  }
};

}  // namespace

const Layer& softmax_layer() {
  static const SoftmaxLayer layer;
  return layer;
}

}  // namespace tinyc
