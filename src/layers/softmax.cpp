// softmax over the last dimension, numerically stable (max subtracted). With cross-entropy
// the trainer fuses it with the loss and never calls this backward.
#include <cmath>

#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

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
  // quantization is fixed at (1/256, -128).
  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const TensorQuant xq = activation_quant(op, *b.in_tensors[0]);
    require_output_quant(op, *b.out_tensors[0], kProbabilityScale, kProbabilityZeroPoint);
    const SoftmaxParams p = softmax_params(xq.scale, op.get_float("beta", 1.0f));
    const int64_t k = b.out_tensors[0]->shape.back();
    const int64_t rows = b.n * per_sample(b.out_tensors[0]->shape) / k;
    for (int64_t r = 0; r < rows; ++r) softmax_int8(b.in[0] + r * k, b.out[0] + r * k, k, p);
  }
};

}  // namespace

const Layer& softmax_layer() {
  static const SoftmaxLayer layer;
  return layer;
}

}  // namespace tinyc
