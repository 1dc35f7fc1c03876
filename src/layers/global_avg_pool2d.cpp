// global_avg_pool2d: (1, H, W, C) -> (1, C), the mean over all pixels of each channel. The
// output is flat, as Keras' GlobalAveragePooling2D and TFLite's MEAN over axes [1, 2] with
// keep_dims false give it, so a dense layer can follow directly.
#include <algorithm>

#include "layers/int8_util.h"
#include "layers/window.h"

namespace tinyc {
namespace {

class GlobalAvgPool2dLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    const Window g = make_window(op, in[0], {1, 1}, {1, 1}, false);
    return {Shape{1, g.in_c}};
  }

  // x: (n, H * W, C)  y: (n, C)
  void forward(const OpBinding& b) const override {
    const Shape& s = b.in_tensors[0]->shape;
    const int64_t pixels = static_cast<int64_t>(s[1]) * s[2], c_n = s[3];
    const float inv = 1.0f / static_cast<float>(pixels);
    // Pixel by pixel with the channels innermost: one in-order pass over the input.
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[0] + r * pixels * c_n;
      float* y = b.out[0] + r * c_n;
      std::fill(y, y + c_n, 0.0f);
      for (int64_t p = 0; p < pixels; ++p) {
        for (int64_t c = 0; c < c_n; ++c) y[c] += x[p * c_n + c];
      }
      for (int64_t c = 0; c < c_n; ++c) y[c] *= inv;
    }
  }

  // int8: TFLite AVERAGE_POOL_2D arithmetic with an H x W window (then a RESHAPE to (1, C)),
  // the output sharing the input's parameters: the raw int8 sum divided by H * W, rounding
  // half away from zero. This is what TFLM gives for AVERAGE_POOL_2D; an imported MEAN over
  // axes [1, 2] is a different kernel in TFLM (its equal-parameters path truncates the
  // division, other paths requantize) and is not this op.
  // x: (n, H * W, C) int8  y: (n, C) int8
  void forward_int8(const Int8Binding& b) const override {
    require_same_quant(*b.op, *b.in_tensors[0], *b.out_tensors[0]);
    const Shape& s = b.in_tensors[0]->shape;
    const int64_t pixels = static_cast<int64_t>(s[1]) * s[2], c_n = s[3];
    std::vector<int32_t> acc(static_cast<size_t>(c_n));
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* x = b.in[0] + r * pixels * c_n;
      int8_t* y = b.out[0] + r * c_n;
      std::fill(acc.begin(), acc.end(), 0);
      for (int64_t p = 0; p < pixels; ++p) {
        for (int64_t c = 0; c < c_n; ++c) acc[static_cast<size_t>(c)] += x[p * c_n + c];
      }
      for (int64_t c = 0; c < c_n; ++c) {
        y[c] = average_int8(acc[static_cast<size_t>(c)], static_cast<int32_t>(pixels));
      }
    }
  }

  // dx = dy / (H * W) at every pixel.
  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    const Shape& s = b.in_tensors[0]->shape;
    const int64_t pixels = static_cast<int64_t>(s[1]) * s[2], c_n = s[3];
    const float inv = 1.0f / static_cast<float>(pixels);
    for (int64_t r = 0; r < b.n; ++r) {
      float* dx = b.din[0] + r * pixels * c_n;
      const float* dy = b.dout[0] + r * c_n;
      for (int64_t p = 0; p < pixels; ++p) {
        for (int64_t c = 0; c < c_n; ++c) dx[p * c_n + c] = dy[c] * inv;
      }
    }
  }
};

}  // namespace

const Layer& global_avg_pool2d_layer() {
  static const GlobalAvgPool2dLayer layer;
  return layer;
}

}  // namespace tinyc
