// avg_pool2d: the mean of each window, per channel (TFLite's AVERAGE_POOL_2D). Attributes as
// max_pool2d. Window positions in the padding are left out of the mean (TFLite divides by the
// number of in-image positions, not by ph * pw).
#include <algorithm>
#include <cstring>
#include <vector>

#include "layers/int8_util.h"
#include "layers/window.h"

namespace tinyc {

namespace {

// In-image positions of the window of output (oy, ox) along one axis: [lo, hi).
struct Span {
  int lo, hi;
};
Span span(int o, int stride, int pad, int k, int size) {
  const int start = o * stride - pad;
  return {start < 0 ? 0 : start, start + k > size ? size : start + k};
}

class AvgPool2dLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    const Window g = pool_window(op, in[0]);
    return {Shape{1, g.out_h, g.out_w, g.in_c}};
  }

  // x: (n, H, W, C)  y: (n, OH, OW, C)
  void forward(const OpBinding& b) const override {
    const Window g = pool_window(*b.op, b.in_tensors[0]->shape);
    const int64_t c_n = g.in_c;
    float* y = b.out[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        const Span sy = span(oy, g.stride_h, g.pad_top, g.k_h, g.in_h);
        for (int ox = 0; ox < g.out_w; ++ox, y += c_n) {
          const Span sx = span(ox, g.stride_w, g.pad_left, g.k_w, g.in_w);
          std::memset(y, 0, sizeof(float) * static_cast<size_t>(c_n));
          for (int iy = sy.lo; iy < sy.hi; ++iy) {
            for (int ix = sx.lo; ix < sx.hi; ++ix) {
              const float* xp = x + (static_cast<int64_t>(iy) * g.in_w + ix) * c_n;
              for (int64_t c = 0; c < c_n; ++c) y[c] += xp[c];
            }
          }
          const float inv = 1.0f / static_cast<float>((sy.hi - sy.lo) * (sx.hi - sx.lo));
          for (int64_t c = 0; c < c_n; ++c) y[c] *= inv;
        }
      }
    }
  }

  // TFLite AVERAGE_POOL_2D int8 (reference_integer_ops::AveragePool): the sum of the raw
  // in-image int8 values (no zero point: input and output share their parameters), divided by
  // their count rounding half away from zero, clamped to the (unfused: full) range.
  void forward_int8(const Int8Binding& b) const override {
    require_same_quant(*b.op, *b.in_tensors[0], *b.out_tensors[0]);
    const Window g = pool_window(*b.op, b.in_tensors[0]->shape);
    const int64_t c_n = g.in_c;
    std::vector<int32_t> acc(static_cast<size_t>(c_n));
    int8_t* y = b.out[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* x = b.in[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        const Span sy = span(oy, g.stride_h, g.pad_top, g.k_h, g.in_h);
        for (int ox = 0; ox < g.out_w; ++ox, y += c_n) {
          const Span sx = span(ox, g.stride_w, g.pad_left, g.k_w, g.in_w);
          std::fill(acc.begin(), acc.end(), 0);
          for (int iy = sy.lo; iy < sy.hi; ++iy) {
            for (int ix = sx.lo; ix < sx.hi; ++ix) {
              const int8_t* xp = x + (static_cast<int64_t>(iy) * g.in_w + ix) * c_n;
              for (int64_t c = 0; c < c_n; ++c) acc[static_cast<size_t>(c)] += xp[c];
            }
          }
          const int32_t count = (sy.hi - sy.lo) * (sx.hi - sx.lo);
          for (int64_t c = 0; c < c_n; ++c) y[c] = average_int8(acc[static_cast<size_t>(c)], count);
        }
      }
    }
  }

  // dx += dy / count over each window.
  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    const Window g = pool_window(*b.op, b.in_tensors[0]->shape);
    const int64_t c_n = g.in_c;
    std::memset(b.din[0], 0, sizeof(float) * static_cast<size_t>(b.n * g.in_size()));
    const float* dy = b.dout[0];
    for (int64_t r = 0; r < b.n; ++r) {
      float* dx = b.din[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        const Span sy = span(oy, g.stride_h, g.pad_top, g.k_h, g.in_h);
        for (int ox = 0; ox < g.out_w; ++ox, dy += c_n) {
          const Span sx = span(ox, g.stride_w, g.pad_left, g.k_w, g.in_w);
          const float inv = 1.0f / static_cast<float>((sy.hi - sy.lo) * (sx.hi - sx.lo));
          for (int iy = sy.lo; iy < sy.hi; ++iy) {
            for (int ix = sx.lo; ix < sx.hi; ++ix) {
              float* dp = dx + (static_cast<int64_t>(iy) * g.in_w + ix) * c_n;
              for (int64_t c = 0; c < c_n; ++c) dp[c] += dy[c] * inv;
            }
          }
        }
      }
    }
  }
};

}  // namespace

const Layer& avg_pool2d_layer() {
  static const AvgPool2dLayer layer;
  return layer;
}

}  // namespace tinyc
