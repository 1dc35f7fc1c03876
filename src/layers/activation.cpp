// activation: a standalone element-wise function (relu, relu6, sigmoid, tanh). Sigmoid and
// tanh stay separate ops (not fused into dense) because in int8 they get fixed output
// quantization parameters of their own (DESIGN.md §6).
#include <cstring>

#include "layers/activation_fn.h"
#include "layers/layer_util.h"

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
};

}  // namespace

const Layer& activation_layer() {
  static const ActivationLayer layer;
  return layer;
}

}  // namespace tinyc
