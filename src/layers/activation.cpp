// activation: a standalone element-wise function (relu, relu6, sigmoid, tanh). Sigmoid and
// tanh stay separate ops (not fused into dense) because in int8 they get fixed output
// quantization parameters of their own (DESIGN.md §6).
#include <algorithm>
#include <cstring>

#include "layers/activation_fn.h"
#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "tinyc/quant_math.h"

namespace tinyc {
namespace {

class ActivationLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    op_activation(op, false);
    return {in[0]};
  }

  void forward(const OpBinding& b) const override {
    const int64_t count = b.n * per_sample(b.out_tensors[0]->shape);
    if (b.out[0] != b.in[0]) std::memcpy(b.out[0], b.in[0], sizeof(float) * static_cast<size_t>(count));
    act_forward(op_activation(*b.op, false), b.out[0], count);
  }

  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    const int64_t count = b.n * per_sample(b.out_tensors[0]->shape);
    act_backward(op_activation(*b.op, false), b.out[0], b.dout[0], count);
    std::memcpy(b.din[0], b.dout[0], sizeof(float) * static_cast<size_t>(count));
  }

  // int8, as the TFLM kernels: relu requantizes to the output parameters and clamps at zero;
  // relu6 clamps to [zp, zp + round(6 / scale)] (same parameters in and out); sigmoid and tanh
  // are TFLite's reference_integer_ops Logistic and Tanh with fixed output parameters.
  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const Tensor& xt = *b.in_tensors[0];
    const Tensor& yt = *b.out_tensors[0];
    const int64_t count = b.n * per_sample(yt.shape);
    const int8_t* x = b.in[0];
    int8_t* y = b.out[0];
    const TensorQuant xq = activation_quant(op, xt);
    switch (op_activation(op, false)) {
      case ActKind::kNone:
        forward_int8_identity(b);
        return;
      case ActKind::kRelu: {
        const TensorQuant yq = activation_quant(op, yt);
        const QuantizedMultiplier m = quantize_multiplier(static_cast<double>(xq.scale) /
                                                          static_cast<double>(yq.scale));
        const ActivationRange r =
            activation_range_int8(FusedActivation::kRelu, yq.scale, yq.zero_point);
        for (int64_t i = 0; i < count; ++i) {
          const int32_t v =
              yq.zero_point + multiply_by_quantized_multiplier(x[i] - xq.zero_point, m);
          y[i] = static_cast<int8_t>(std::min(std::max(v, r.min), r.max));
        }
        return;
      }
      case ActKind::kRelu6: {
        require_same_quant(op, xt, yt);
        const int32_t lo = xq.zero_point;
        const int32_t hi = quantize_int8(6.0f, xq.scale, xq.zero_point);
        for (int64_t i = 0; i < count; ++i) {
          y[i] = static_cast<int8_t>(std::min(std::max<int32_t>(x[i], lo), hi));
        }
        return;
      }
      case ActKind::kSigmoid: {
        require_output_quant(op, yt, kProbabilityScale, kProbabilityZeroPoint);
        const SigmoidTanhParams p = sigmoid_tanh_params(xq.scale, xq.zero_point);
        for (int64_t i = 0; i < count; ++i) y[i] = logistic_int8(x[i], p);
        return;
      }
      case ActKind::kTanh: {
        require_output_quant(op, yt, kTanhScale, kTanhZeroPoint);
        const SigmoidTanhParams p = sigmoid_tanh_params(xq.scale, xq.zero_point);
        for (int64_t i = 0; i < count; ++i) y[i] = tanh_int8(x[i], p);
        return;
      }
    }
  }
};

}  // namespace

const Layer& activation_layer() {
  static const ActivationLayer layer;
  return layer;
}

}  // namespace tinyc
