// conv2d: y = act(conv(x, W) + b) over NHWC activations, TFLite's CONV_2D layout: W is
// (filters, kh, kw, in_ch), b is (filters). Attributes: filters, kernel [kh, kw] (taken from
// the weights; checked when present), stride [sh, sw] (default 1), padding same|valid
// (default valid, TFLite's SAME rule), activation none|relu|relu6 (fused).
//
// Computed as im2col + one GEMM over every output pixel of the slice's rows: the patches of
// all n rows (n * out_pixels, K = kh * kw * in_ch) live in this op's scratch, where backward
// finds them for dW and then reuses the space for the patch gradients. A 1x1 convolution with
// stride 1 is a plain GEMM over the input pixels and skips im2col; inputs with few channels
// (a first layer on grayscale images or spectrograms) use the transposed patch layout.
#include <algorithm>
#include <cstring>

#include "layers/activation_fn.h"
#include "layers/int8_util.h"
#include "layers/window.h"

namespace tinyc {
namespace {

// Pixels per product in the weight gradient (see backward).
constexpr int64_t kDwChunk = 256;

struct ConvGeometry {
  Window g;
  int64_t filters = 0;
  int64_t k = 0;          // patch length kh * kw * in_ch
  bool pointwise = false;  // 1x1, stride 1: the input is its own patch matrix
  bool transposed = false;  // patches in im2col_t's (K, n * out_pixels) layout
};

ConvGeometry conv_geometry(const Op& op, const Shape& x, const Shape& w) {
  if (w.size() != 4) {
    bad_input("layer '{}' (conv2d): weights {} must be (filters, kh, kw, in_channels)", op.name,
              shape_str(w));
  }
  ConvGeometry c;
  c.g = make_window(op, x, {w[1], w[2]}, op_pair(op, "stride", {1, 1}), op_same_padding(op));
  c.filters = w[0];
  c.k = static_cast<int64_t>(w[1]) * w[2] * w[3];
  c.pointwise = w[1] == 1 && w[2] == 1 && c.g.stride_h == 1 && c.g.stride_w == 1;
  c.transposed = !c.pointwise && prefer_im2col_t(c.g);
  return c;
}

class Conv2dLayer : public Layer {
 public:
  std::vector<Shape> infer_shapes(const Op& op, const std::vector<Shape>& in) const override {
    require_arity(op, in, 3);
    require_batched(op, in[0]);
    op_activation(op, true);
    const ConvGeometry c = conv_geometry(op, in[0], in[1]);
    const Shape& w = in[1];
    if (w[3] != c.g.in_c) {
      bad_input("layer '{}' (conv2d): weights {} expect {} input channels, the input {} has {}",
                op.name, shape_str(w), w[3], shape_str(in[0]), c.g.in_c);
    }
    if (op.has("kernel") && op_pair(op, "kernel", {0, 0}) != Pair{w[1], w[2]}) {
      const Pair k = op_pair(op, "kernel", {0, 0});
      bad_input("layer '{}' (conv2d): attribute kernel={}x{} but weights {} are {}x{}", op.name,
                k[0], k[1], shape_str(w), w[1], w[2]);
    }
    if (op.get_int("filters", w[0]) != w[0]) {
      bad_input("layer '{}' (conv2d): attribute filters={} but weights {} have {}", op.name,
                op.get_int("filters", 0), shape_str(w), w[0]);
    }
    if (in[2].size() != 1 || in[2][0] != w[0]) {
      bad_input("layer '{}' (conv2d): bias {} does not match {} filters", op.name,
                shape_str(in[2]), w[0]);
    }
    return {Shape{1, c.g.out_h, c.g.out_w, w[0]}};
  }

  int64_t macs(const Op& op, const std::vector<Shape>& in, const std::vector<Shape>&) const override {
    const ConvGeometry c = conv_geometry(op, in[0], in[1]);
    return c.g.out_pixels() * c.filters * c.k;
  }

  int64_t scratch_floats(const OpBinding& b) const override {
    const ConvGeometry c = conv_geometry(*b.op, b.in_tensors[0]->shape, b.in_tensors[1]->shape);
    return c.pointwise ? 0 : c.g.out_pixels() * c.k;
  }

  // x: (n, H, W, C)  patches: (n * OH * OW, K)  w: (F, K)  b: (F)  y: (n * OH * OW, F)
  void forward(const OpBinding& b) const override {
    const ConvGeometry c = conv_geometry(*b.op, b.in_tensors[0]->shape, b.in_tensors[1]->shape);
    const int64_t pixels = b.n * c.g.out_pixels();
    ConstRowMajor w(b.in[1], c.filters, c.k);
    Eigen::Map<const Eigen::VectorXf> bias(b.in[2], c.filters);
    Cols y(b.out[0], c.filters, pixels);
    if (c.transposed) {
      // patches^T: (n * OH * OW, K) column-major
      for (int64_t r = 0; r < b.n; ++r) {
        im2col_t(c.g, b.in[0] + r * c.g.in_size(), b.scratch + r * c.g.out_pixels(), pixels);
      }
      ConstCols pt(b.scratch, pixels, c.k);
      y.noalias() = w * pt.transpose();
    } else {
      const float* patches = b.in[0];
      if (!c.pointwise) {
        for (int64_t r = 0; r < b.n; ++r) {
          im2col(c.g, b.in[0] + r * c.g.in_size(), b.scratch + r * c.g.out_pixels() * c.k);
        }
        patches = b.scratch;
      }
      ConstCols p(patches, c.k, pixels);
      y.noalias() = w * p;
    }
    y.colwise() += bias;
    act_forward(op_activation(*b.op, true), b.out[0], c.filters * pixels);
  }

  // dz = dy * act'(y);  dw = dz^T patches;  db = sum over pixels of dz;
  // dpatches = dz w, scattered back into dx by col2im (in place of the patches).
  void backward(const OpBinding& b) const override {
    const ConvGeometry c = conv_geometry(*b.op, b.in_tensors[0]->shape, b.in_tensors[1]->shape);
    const int64_t pixels = b.n * c.g.out_pixels();
    act_backward(op_activation(*b.op, true), b.out[0], b.dout[0], c.filters * pixels);
    Cols dz(b.dout[0], c.filters, pixels);
    if (b.din[1] != nullptr) {
      // Summed over chunks of pixels: with the whole slice as the inner dimension Eigen's
      // blocking buffers outgrow its stack limit (128 KiB) and it would allocate on the heap
      // in every step.
      RowMajor dw(b.din[1], c.filters, c.k);
      dw.setZero();
      const float* p = c.pointwise ? b.in[0] : b.scratch;
      for (int64_t p0 = 0; p0 < pixels; p0 += kDwChunk) {
        const int64_t len = std::min(kDwChunk, pixels - p0);
        if (c.transposed) {
          // patches^T rows p0.. of the (pixels, K) column-major view
          Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> pt(
              p + p0, len, c.k, Eigen::OuterStride<>(pixels));
          dw.noalias() += dz.middleCols(p0, len) * pt;
        } else {
          dw.noalias() += dz.middleCols(p0, len) * ConstCols(p + p0 * c.k, c.k, len).transpose();
        }
      }
    }
    if (b.din[2] != nullptr) {
      // Pixel by pixel: a row-wise Eigen sum over the (F, pixels) view would stride F times.
      float* __restrict db = b.din[2];
      const float* __restrict g = b.dout[0];
      std::fill(db, db + c.filters, 0.0f);
      for (int64_t p = 0; p < pixels; ++p) {
        for (int64_t f = 0; f < c.filters; ++f) db[f] += g[p * c.filters + f];
      }
    }
    if (b.din[0] == nullptr) return;
    ConstRowMajor w(b.in[1], c.filters, c.k);
    if (c.pointwise) {
      Cols dx(b.din[0], c.k, pixels);
      dx.noalias() = w.transpose() * dz;
      return;
    }
    std::memset(b.din[0], 0, sizeof(float) * static_cast<size_t>(b.n * c.g.in_size()));
    if (c.transposed) {
      Cols dpt(b.scratch, pixels, c.k);
      dpt.noalias() = dz.transpose() * w;
      for (int64_t r = 0; r < b.n; ++r) {
        col2im_t_add(c.g, b.scratch + r * c.g.out_pixels(), pixels, b.din[0] + r * c.g.in_size());
      }
      return;
    }
    Cols dp(b.scratch, c.k, pixels);
    dp.noalias() = w.transpose() * dz;
    for (int64_t r = 0; r < b.n; ++r) {
      col2im_add(c.g, b.scratch + r * c.g.out_pixels() * c.k, b.din[0] + r * c.g.in_size());
    }
  }

  // TFLite CONV_2D int8 (reference_integer_ops::ConvPerChannel): for output channel f,
  //   acc = sum over in-image taps (x - x_zp) w_f + b_f;  y = clamp(mbqm(acc, M_f) + y_zp)
  // Taps in the padding are skipped, which is what a zero (x - x_zp) contributes here: each
  // pixel's patch is gathered once with x - x_zp (0 in the padding), then dotted with every
  // filter. Integer sums are exact, so the order does not matter.
  // x: (n, H, W, C) int8  w: (F, kh, kw, C) int8  b: (F) int32  y: (n, OH, OW, F) int8
  void forward_int8(const Int8Binding& b) const override {
    const Op& op = *b.op;
    const ConvGeometry c = conv_geometry(op, b.in_tensors[0]->shape, b.in_tensors[1]->shape);
    const Window& g = c.g;
    const Tensor& wt = *b.in_tensors[1];
    const Tensor& bt = *b.in_tensors[2];
    const TensorQuant xq = activation_quant(op, *b.in_tensors[0]);
    const TensorQuant yq = activation_quant(op, *b.out_tensors[0]);
    const std::vector<QuantizedMultiplier> mult =
        conv_multipliers(op, wt, bt, c.filters, xq, yq);
    const ActivationRange range = fused_range_int8(op, yq);
    const int64_t c_in = g.in_c;
    std::vector<int32_t> patch(static_cast<size_t>(c.k));
    int8_t* y = b.out[0];
    for (int64_t r = 0; r < b.n; ++r) {
      const int8_t* x = b.in[0] + r * g.in_size();
      for (int oy = 0; oy < g.out_h; ++oy) {
        for (int ox = 0; ox < g.out_w; ++ox, y += c.filters) {
          int32_t* p = patch.data();
          for (int ky = 0; ky < g.k_h; ++ky) {
            const int iy = oy * g.stride_h - g.pad_top + ky;
            for (int kx = 0; kx < g.k_w; ++kx, p += c_in) {
              const int ix = ox * g.stride_w - g.pad_left + kx;
              if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) {
                std::fill(p, p + c_in, 0);
                continue;
              }
              const int8_t* xp = x + (static_cast<int64_t>(iy) * g.in_w + ix) * c_in;
              for (int64_t ch = 0; ch < c_in; ++ch) p[ch] = xp[ch] - xq.zero_point;
            }
          }
          for (int64_t f = 0; f < c.filters; ++f) {
            const int32_t* __restrict wp = wt.ints.data() + f * c.k;
            const int32_t* __restrict pp = patch.data();
            int32_t acc = 0;
            for (int64_t i = 0; i < c.k; ++i) acc += pp[i] * wp[i];
            acc += bt.ints[static_cast<size_t>(f)];
            y[f] = requantize(acc, mult[static_cast<size_t>(f)], yq.zero_point, range);
          }
        }
      }
    }
  }
};

}  // namespace

const Layer& conv2d_layer() {
  static const Conv2dLayer layer;
  return layer;
}

}  // namespace tinyc
