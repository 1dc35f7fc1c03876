// dropout: during training zeroes each value with probability `rate` and scales the rest by
// 1 / (1 - rate) (inverted dropout); identity at inference. The mask of row r is drawn from a
// stream seeded by (step seed, r), so results do not depend on how rows are split over threads.
#include <cstring>

#include "layers/int8_util.h"
#include "layers/layer_util.h"
#include "tinyc/rng.h"

namespace tinyc {
namespace {

float dropout_rate(const Op& op) { return op.get_float("rate", 0.5f); }

class DropoutLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    const float rate = dropout_rate(op);
    if (!(rate >= 0.0f && rate < 1.0f)) {
      bad_input("layer '{}' (dropout): rate {} must be in [0, 1)", op.name, rate);
    }
    return {in[0]};
  }

  int64_t scratch_floats(const OpBinding& b) const override {
    return per_sample(b.out_tensors[0]->shape);
  }

  void forward(const OpBinding& b) const override {
    const int64_t width = per_sample(b.out_tensors[0]->shape);
    const float rate = dropout_rate(*b.op);
    if (!b.training || rate == 0.0f) {
      std::memcpy(b.out[0], b.in[0], sizeof(float) * static_cast<size_t>(b.n * width));
      return;
    }
    const float keep_scale = 1.0f / (1.0f - rate);
    for (int64_t r = 0; r < b.n; ++r) {
      Rng rng(mix_seed(b.seed, static_cast<uint64_t>(b.row0 + r)));
      float* mask = b.scratch + r * width;
      for (int64_t i = 0; i < width; ++i) mask[i] = rng.uniform() < rate ? 0.0f : keep_scale;
    }
    for (int64_t i = 0; i < b.n * width; ++i) b.out[0][i] = b.in[0][i] * b.scratch[i];
  }

  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    const int64_t count = b.n * per_sample(b.out_tensors[0]->shape);
    if (!b.training || dropout_rate(*b.op) == 0.0f) {
      std::memcpy(b.din[0], b.dout[0], sizeof(float) * static_cast<size_t>(count));
      return;
    }
    for (int64_t i = 0; i < count; ++i) b.din[0][i] = b.dout[0][i] * b.scratch[i];
  }

  // int8 (inference only): the values pass unchanged; the output shares the input's quantization.
  void forward_int8(const Int8Binding& b) const override { forward_int8_identity(b); }
};

}  // namespace

const Layer& dropout_layer() {
  static const DropoutLayer layer;
  return layer;
}

}  // namespace tinyc
