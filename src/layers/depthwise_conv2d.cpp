// depthwise_conv2d: each input channel c is convolved with depth_multiplier filters of its
// own; output channel c * M + m (TFLite's DEPTHWISE_CONV_2D order). W is (1, kh, kw, C * M),
// b is (C * M). Attributes: depth_multiplier (default 1), kernel [kh, kw] (taken from the
// weights; checked when present), stride, padding same|valid, activation none|relu|relu6.
//
// Direct loops rather than im2col: a depthwise layer does kh * kw MACs per output value, too
// few for a GEMM to pay for the patch copies. The innermost loop runs over channels, which are
// contiguous in NHWC, so it vectorizes.
#include <algorithm>
#include <cstring>
#include <string>

#include "layers/activation_fn.h"
#include "layers/int8_util.h"
#include "layers/window.h"

namespace tinyc {
namespace {

// acc += a * b over n values; the restrict pointers let the compiler vectorize without
// run-time alias checks.
inline void multiply_add(float* __restrict acc, const float* __restrict a,
                         const float* __restrict b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) acc[i] += a[i] * b[i];
}

struct DepthwiseGeometry {
  Window g;
  int64_t mult = 1;
  int64_t out_c = 0;  // C * M
};

DepthwiseGeometry depthwise_geometry(const Op& op, const Shape& x, const Shape& w) {
  if (w.size() != 4 || w[0] != 1) {
    bad_input("layer '{}' (depthwise_conv2d): weights {} must be (1, kh, kw, channels x "
              "depth_multiplier)", op.name, shape_str(w));
  }
  DepthwiseGeometry d;
  d.g = make_window(op, x, {w[1], w[2]}, op_pair(op, "stride", {1, 1}), op_same_padding(op));
  // A string of 16 characters does not fit libstdc++'s short-string buffer: built once, not
  // on the heap in every forward/backward.
  static const std::string kMultiplier = "depth_multiplier";
  d.mult = op.get_int(kMultiplier, 1);
  d.out_c = w[3];
  return d;
}

class DepthwiseConv2dLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 3);
    require_batched(op, in[0]);
    op_activation(op, true);
    const DepthwiseGeometry d = depthwise_geometry(op, in[0], in[1]);
    if (d.mult < 1 || d.mult > (1 << 16)) {
      bad_input("layer '{}' (depthwise_conv2d): depth_multiplier {} must be >= 1", op.name, d.mult);
    }
    if (d.out_c != d.g.in_c * d.mult) {
      bad_input("layer '{}' (depthwise_conv2d): weights {} have {} channels, expected {} input "
                "channels x depth_multiplier {} = {}", op.name, shape_str(in[1]), d.out_c,
                d.g.in_c, d.mult, d.g.in_c * d.mult);
    }
    if (op.has("kernel") && op_pair(op, "kernel", {0, 0}) != Pair{in[1][1], in[1][2]}) {
      const Pair k = op_pair(op, "kernel", {0, 0});
      bad_input("layer '{}' (depthwise_conv2d): attribute kernel={}x{} but weights {} are {}x{}",
                op.name, k[0], k[1], shape_str(in[1]), in[1][1], in[1][2]);
    }
    if (in[2].size() != 1 || in[2][0] != d.out_c) {
      bad_input("layer '{}' (depthwise_conv2d): bias {} does not match {} output channels",
                op.name, shape_str(in[2]), d.out_c);
    }
    return {Shape{1, d.g.out_h, d.g.out_w, static_cast<int>(d.out_c)}};
  }

  int64_t macs(const Op& op, const std::vector<Shape>& in, const std::vector<Shape>&) const override {
    const DepthwiseGeometry d = depthwise_geometry(op, in[0], in[1]);
    return d.g.out_pixels() * d.out_c * d.g.k_h * d.g.k_w;
  }

  // x: (n, H, W, C)  w: (kh, kw, C * M)  b: (C * M)  y: (n, OH, OW, C * M)
  void forward(const OpBinding& b) const override {
    const DepthwiseGeometry d = depthwise_geometry(*b.op, b.in_tensors[0]->shape, b.in_tensors[1]->shape);
    const Window& g = d.g;
    const int64_t c_in = g.in_c, c_out = d.out_c, m = d.mult;
    float* y = b.out[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        for (int ox = 0; ox < g.out_w; ++ox, y += c_out) {
          std::memcpy(y, b.in[2], sizeof(float) * static_cast<size_t>(c_out));
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_top + ky;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (ix < 0 || ix >= g.in_w) continue;
              const float* xp = x + (static_cast<int64_t>(iy) * g.in_w + ix) * c_in;
              const float* wp = b.in[1] + (static_cast<int64_t>(ky) * g.k_w + kx) * c_out;
              if (m == 1) {
                multiply_add(y, xp, wp, c_out);
              } else {
                for (int64_t c = 0; c < c_in; ++c) {
                  for (int64_t j = 0; j < m; ++j) y[c * m + j] += xp[c] * wp[c * m + j];
                }
              }
            }
          }
        }
      }
    }
    act_forward(op_activation(*b.op, true), b.out[0], b.n * g.out_pixels() * c_out);
  }

  // dz = dy * act'(y); each window position accumulates dw += dz x, dx += dz w, db += dz.
  void backward(const OpBinding& b) const override {
    const DepthwiseGeometry d = depthwise_geometry(*b.op, b.in_tensors[0]->shape, b.in_tensors[1]->shape);
    const Window& g = d.g;
    const int64_t c_in = g.in_c, c_out = d.out_c, m = d.mult;
    act_backward(op_activation(*b.op, true), b.out[0], b.dout[0], b.n * g.out_pixels() * c_out);
    float* dw = b.din[1];
    float* db = b.din[2];
    float* dx_all = b.din[0];
    if (dw != nullptr) std::memset(dw, 0, sizeof(float) * static_cast<size_t>(g.k_h * g.k_w * c_out));
    if (db != nullptr) std::memset(db, 0, sizeof(float) * static_cast<size_t>(c_out));
    if (dx_all != nullptr) std::memset(dx_all, 0, sizeof(float) * static_cast<size_t>(b.n * g.in_size()));
    const float* dz = b.dout[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const float* x = b.in[0] + r * g.in_size();
      float* dx = dx_all != nullptr ? dx_all + r * g.in_size() : nullptr;
      for (int oy = 0; oy < g.out_h; ++oy) {
        for (int ox = 0; ox < g.out_w; ++ox, dz += c_out) {
          if (db != nullptr) {
            float* __restrict dbp = db;
            for (int64_t c = 0; c < c_out; ++c) dbp[c] += dz[c];
          }
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_top + ky;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (ix < 0 || ix >= g.in_w) continue;
              const int64_t xo = (static_cast<int64_t>(iy) * g.in_w + ix) * c_in;
              const int64_t wo = (static_cast<int64_t>(ky) * g.k_w + kx) * c_out;
              const float* xp = x + xo;
              const float* wp = b.in[1] + wo;
              if (m == 1) {
                if (dw != nullptr) multiply_add(dw + wo, dz, xp, c_out);
                if (dx != nullptr) multiply_add(dx + xo, dz, wp, c_out);
                continue;
              }
              if (dw != nullptr) {
                for (int64_t c = 0; c < c_in; ++c) {
                  for (int64_t j = 0; j < m; ++j) dw[wo + c * m + j] += dz[c * m + j] * xp[c];
                }
              }
              if (dx != nullptr) {
                for (int64_t c = 0; c < c_in; ++c) {
                  float s = 0.0f;
                  for (int64_t j = 0; j < m; ++j) s += dz[c * m + j] * wp[c * m + j];
                  dx[xo + c] += s;
                }
              }
            }
          }
        }
      }
    }
  }

  // TFLite DEPTHWISE_CONV_2D int8 (reference_integer_ops::DepthwiseConvPerChannel): output
  // channel o = c * M + m, acc = sum over in-image taps (x[c] - x_zp) w[ky, kx, o] + b[o];
  // y = clamp(mbqm(acc, M_o) + y_zp). Taps in the padding are skipped.
  // x: (n, H, W, C) int8  w: (1, kh, kw, C * M) int8  b: (C * M) int32  y: (n, OH, OW, C * M)
  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const DepthwiseGeometry d = depthwise_geometry(op, b.in_tensors[0]->shape, b.in_tensors[1]->shape);
    const Window& g = d.g;
    const Tensor& wt = *b.in_tensors[1];
    const Tensor& bt = *b.in_tensors[2];
    const TensorQuant xq = activation_quant(op, *b.in_tensors[0]);
    const TensorQuant yq = activation_quant(op, *b.out_tensors[0]);
    const std::vector<QuantizedMultiplier> mult = conv_multipliers(op, wt, bt, d.out_c, xq, yq);
    const ActivationRange range = fused_range_int8(op, yq);
    const int64_t c_in = g.in_c, c_out = d.out_c, m = d.mult;
    std::vector<int32_t> acc(static_cast<size_t>(c_out));
    int8_t* y = b.out[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* x = b.in[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        for (int ox = 0; ox < g.out_w; ++ox, y += c_out) {
          std::copy(bt.ints.begin(), bt.ints.end(), acc.begin());
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_top + ky;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int kx = 0; kx < g.k_w; ++kx) {
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (ix < 0 || ix >= g.in_w) continue;
              const int8_t* xp = x + (static_cast<int64_t>(iy) * g.in_w + ix) * c_in;
              const int32_t* wp = wt.ints.data() + (static_cast<int64_t>(ky) * g.k_w + kx) * c_out;
              for (int64_t c = 0; c < c_in; ++c) {
                const int32_t xv = xp[c] - xq.zero_point;
                for (int64_t j = 0; j < m; ++j) acc[static_cast<size_t>(c * m + j)] += xv * wp[c * m + j];
              }
            }
          }
          for (int64_t o = 0; o < c_out; ++o) {
            y[o] = requantize(acc[static_cast<size_t>(o)], mult[static_cast<size_t>(o)],
                              yq.zero_point, range);
          }
        }
      }
    }
  }
};

}  // namespace

const Layer& depthwise_conv2d_layer() {
  static const DepthwiseConv2dLayer layer;
  return layer;
}

}  // namespace tinyc
