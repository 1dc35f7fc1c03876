// flatten: (1, d1, d2, ...) -> (1, d1*d2*...); row-major data is unchanged.
#include <cstring>

#include "layers/int8_util.h"
#include "layers/layer_util.h"

namespace tinyc {
namespace {

class FlattenLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    return {Shape{1, static_cast<int>(per_sample(in[0]))}};
  }

  void forward(const OpBinding& b) const override {
    std::memcpy(b.out[0], b.in[0], sizeof(float) * static_cast<size_t>(b.n * per_sample(b.out_tensors[0]->shape)));
  }

  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    std::memcpy(b.din[0], b.dout[0], sizeof(float) * static_cast<size_t>(b.n * per_sample(b.out_tensors[0]->shape)));
  }

  // int8: the values pass unchanged; the output shares the input's quantization.
  void forward_int8(const Int8Binding& b) const override { forward_int8_identity(b); }
};

}  // namespace

const Layer& flatten_layer() {
  static const FlattenLayer layer;
  return layer;
}

}  // namespace tinyc
