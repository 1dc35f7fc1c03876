// Geometry shared by the NHWC sliding-window layers (conv2d, depthwise_conv2d, max_pool2d,
// avg_pool2d): [h, w] attributes, TFLite's padding rule, and im2col with its adjoint.
#pragma once

#include <array>
#include <cstdint>

#include "layers/layer_util.h"

namespace tinyc {

using Pair = std::array<int, 2>;  // {h, w}

// One window op over an (n, H, W, C) activation. Window positions that fall in the padding
// read zeros (convolutions) or are skipped (pools).
struct Window {
  int in_h = 0, in_w = 0, in_c = 0;
  int k_h = 0, k_w = 0;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0;  // TFLite SAME puts the odd padding row/column after
  int out_h = 0, out_w = 0;

  int64_t in_size() const { return static_cast<int64_t>(in_h) * in_w * in_c; }
  int64_t out_pixels() const { return static_cast<int64_t>(out_h) * out_w; }
};

// Attribute `key` as {h, w}: stored as one int (both) or two; `fallback` when absent. Values
// must be >= 1. Errors name the op.
Pair op_pair(const Op& op, const char* key, Pair fallback);
// Attribute "padding": "valid" (default) or "same"; true for same.
bool op_same_padding(const Op& op);

// Checks that `in` is (1, H, W, C) and that the window fits, and computes the output size:
//   same:  out = ceil(in / stride), padding total = max((out - 1) * stride + k - in, 0),
//          pad_before = total / 2 (TFLite's rule);
//   valid: out = (in - k) / stride + 1, needs in >= k.
Window make_window(const Op& op, const Shape& in, Pair kernel, Pair stride, bool same);

// The window of max_pool2d / avg_pool2d: attribute pool [ph, pw] (required), stride (default:
// the pool size), padding (default valid).
Window pool_window(const Op& op, const Shape& in);

// One sample x: (H, W, C) -> patches: (out_h * out_w, k_h * k_w * C) row-major; each row is
// the window of one output pixel in (ky, kx, c) order, the order of TFLite's conv weights
// (filters, kh, kw, in_ch). Padding reads zeros.
void im2col(const Window& g, const float* x, float* patches);
// The adjoint of im2col: dx (H, W, C) += scatter of dpatches. dx must be initialized.
void col2im_add(const Window& g, const float* dpatches, float* dx);

// The transposed layout, for inputs with few channels: patches (K, ld) row-major, this sample's
// out_h * out_w columns starting at `patches` (the caller offsets by sample). Row (ky, kx, c)
// holds the input values that tap meets, so for stride 1 each output row is one contiguous run
// of the input, where the (ky, kx, c) layout above would copy runs of only k_w * C floats.
void im2col_t(const Window& g, const float* x, float* patches, int64_t ld);
// Its adjoint: dx (H, W, C) += scatter of dpatches (K, ld). dx must be initialized.
void col2im_t_add(const Window& g, const float* dpatches, int64_t ld, float* dx);
// True when im2col_t is the cheaper layout for this window.
inline bool prefer_im2col_t(const Window& g) { return static_cast<int64_t>(g.k_w) * g.in_c < 16; }

}  // namespace tinyc
