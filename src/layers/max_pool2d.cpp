// max_pool2d: the maximum of each window, per channel (TFLite's MAX_POOL_2D). Attributes:
// pool [ph, pw], stride (default: the pool size), padding same|valid (default valid). Window
// positions in the padding are skipped, as in TFLite; with its SAME rule every window keeps at
// least one input value.
//
// Forward keeps no argmax: a branch-free max over channels vectorizes, while recording indices
// costs more than backward's second look at the window. Backward gives each output's gradient
// to the first window position that equals the output (ties: the first one, in window order).
#include <algorithm>
#include <cstring>
#include <limits>

#include "layers/int8_util.h"
#include "layers/window.h"

namespace tinyc {
namespace {

class MaxPool2dLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 1);
    require_batched(op, in[0]);
    const Window g = pool_window(op, in[0]);
    return {Shape{1, g.out_h, g.out_w, g.in_c}};
  }

  // Backward's per-channel "gradient not yet routed" vector.
  int64_t scratch_floats(const OpBinding& b) const override { return b.in_tensors[0]->shape.back(); }

  // x: (n, H, W, C)  y: (n, OH, OW, C)
  void forward(const OpBinding& b) const override {
    const Window g = pool_window(*b.op, b.in_tensors[0]->shape);
    const int64_t c_n = g.in_c;
    float* y = b.out[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        for (int ox = 0; ox < g.out_w; ++ox, y += c_n) {
          float* __restrict yp = y;
          std::fill(yp, yp + c_n, -std::numeric_limits<float>::infinity());
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_top + ky;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (ix < 0 || ix >= g.in_w) continue;
              const float* __restrict xp = x + (static_cast<int64_t>(iy) * g.in_w + ix) * c_n;
              for (int64_t c = 0; c < c_n; ++c) yp[c] = std::max(yp[c], xp[c]);
            }
          }
        }
      }
    }
  }

  // TFLite MAX_POOL_2D int8: the maximum of the in-image window values, clamped to the
  // (unfused: full) activation range; the output shares the input's parameters.
  void forward_int8(const Int8Binding& b) const override {
    require_same_quant(*b.op, *b.in_tensors[0], *b.out_tensors[0]);
    const Window g = pool_window(*b.op, b.in_tensors[0]->shape);
    const int64_t c_n = g.in_c;
    int8_t* y = b.out[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* x = b.in[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        for (int ox = 0; ox < g.out_w; ++ox, y += c_n) {
          std::fill(y, y + c_n, static_cast<int8_t>(-128));
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_top + ky;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (ix < 0 || ix >= g.in_w) continue;
              const int8_t* xp = x + (static_cast<int64_t>(iy) * g.in_w + ix) * c_n;
              for (int64_t c = 0; c < c_n; ++c) y[c] = std::max(y[c], xp[c]);
            }
          }
        }
      }
    }
  }

  void backward(const OpBinding& b) const override {
    if (b.din[0] == nullptr) return;
    const Window g = pool_window(*b.op, b.in_tensors[0]->shape);
    const int64_t c_n = g.in_c;
    std::memset(b.din[0], 0, sizeof(float) * static_cast<size_t>(b.n * g.in_size()));
    float* __restrict rest = b.scratch;
    const float* y = b.out[0];
    const float* dy = b.dout[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[0] + r * g.in_size();
      float* dx = b.din[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        for (int ox = 0; ox < g.out_w; ++ox, y += c_n, dy += c_n) {
          std::memcpy(rest, dy, sizeof(float) * static_cast<size_t>(c_n));
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_top + ky;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (ix < 0 || ix >= g.in_w) continue;
              const int64_t at = (static_cast<int64_t>(iy) * g.in_w + ix) * c_n;
              const float* __restrict xp = x + at;
              float* __restrict dxp = dx + at;
              for (int64_t c = 0; c < c_n; ++c) {
                const bool hit = xp[c] == y[c];
                dxp[c] += hit ? rest[c] : 0.0f;
                rest[c] = hit ? 0.0f : rest[c];
              }
            }
          }
        }
      }
    }
  }
};

}  // namespace

const Layer& max_pool2d_layer() {
  static const MaxPool2dLayer layer;
  return layer;
}

}  // namespace tinyc
