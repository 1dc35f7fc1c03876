#include "layers/window.h"

#include <algorithm>

namespace tinyc {

Pair op_pair(const Op& op, const char* key, Pair fallback) {
  auto it = op.attrs.find(key);
  if (it == op.attrs.end() || it->second.ints.empty()) return fallback;
  const std::vector<int64_t>& v = it->second.ints;
  if (v.size() > 2 || v[0] < 1 || v.back() < 1 || v[0] > (1 << 16) || v.back() > (1 << 16)) {
    bad_input("layer '{}' ({}): attribute {} must be one or two integers in [1, 65536]", op.name,
              op_type_name(op.type), key);
  }
  return {static_cast<int>(v[0]), static_cast<int>(v.back())};
}

bool op_same_padding(const Op& op) {
  const std::string p = op.get_str("padding", "valid");
  if (p != "same" && p != "valid") {
    bad_input("layer '{}' ({}): unknown padding '{}' (expected same or valid)", op.name,
              op_type_name(op.type), p);
  }
  return p == "same";
}

Window make_window(const Op& op, const Shape& in, Pair kernel, Pair stride, bool same) {
  if (in.size() != 4 || in[0] != 1) {
    bad_input("layer '{}' ({}): expects an NHWC input (1, H, W, C), got {}{}", op.name,
              op_type_name(op.type), shape_str(in),
              in.size() == 3 ? "; declare a grayscale image input as [H, W, 1]" : "");
  }
  Window g;
  g.in_h = in[1];
  g.in_w = in[2];
  g.in_c = in[3];
  g.k_h = kernel[0];
  g.k_w = kernel[1];
  g.stride_h = stride[0];
  g.stride_w = stride[1];
  if (same) {
    g.out_h = (g.in_h + g.stride_h - 1) / g.stride_h;
    g.out_w = (g.in_w + g.stride_w - 1) / g.stride_w;
    g.pad_top = std::max((g.out_h - 1) * g.stride_h + g.k_h - g.in_h, 0) / 2;
    g.pad_left = std::max((g.out_w - 1) * g.stride_w + g.k_w - g.in_w, 0) / 2;
  } else {
    if (g.k_h > g.in_h || g.k_w > g.in_w) {
      bad_input("layer '{}' ({}): window {}x{} is larger than its input {}x{} with padding "
                "\"valid\" (use \"same\" or a smaller kernel)", op.name, op_type_name(op.type),
                g.k_h, g.k_w, g.in_h, g.in_w);
    }
    g.out_h = (g.in_h - g.k_h) / g.stride_h + 1;
    g.out_w = (g.in_w - g.k_w) / g.stride_w + 1;
  }
  return g;
}

Window pool_window(const Op& op, const Shape& in) {
  if (!op.has("pool")) {
    bad_input("layer '{}' ({}): needs attribute pool [ph, pw]", op.name, op_type_name(op.type));
  }
  const Pair pool = op_pair(op, "pool", {1, 1});
  return make_window(op, in, pool, op_pair(op, "stride", pool), op_same_padding(op));
}

// For each output pixel the rows ky whose input row is inside the image are contiguous, and
// within one input row the in-range columns kx are contiguous in NHWC memory, so each row of
// a window is copied with one memcpy of (valid kx) * C floats.
void im2col(const Window& g, const float* x, float* patches) {
  const int64_t c = g.in_c, row_len = static_cast<int64_t>(g.k_w) * c;
  float* p = patches;
  for (int oy = 0; oy < g.out_h; ++oy) {
    const int iy0 = oy * g.stride_h - g.pad_top;
    for (int ox = 0; ox < g.out_w; ++ox) {
      const int ix0 = ox * g.stride_w - g.pad_left;
      const int kx_lo = std::max(0, -ix0), kx_hi = std::min(g.k_w, g.in_w - ix0);
      for (int ky = 0; ky < g.k_h; ++ky, p += row_len) {
        const int iy = iy0 + ky;
        if (iy < 0 || iy >= g.in_h || kx_lo >= kx_hi) {
          std::fill(p, p + row_len, 0.0f);
          continue;
        }
        if (kx_lo > 0) std::fill(p, p + kx_lo * c, 0.0f);
        // An inline Eigen copy: these runs are short (k_w * C floats, 3 for a first 3x3 layer
        // on grayscale input), too short to pay for a memcpy call.
        const int64_t len = (kx_hi - kx_lo) * c;
        Eigen::Map<Eigen::VectorXf>(p + kx_lo * c, len) = Eigen::Map<const Eigen::VectorXf>(
            x + (static_cast<int64_t>(iy) * g.in_w + ix0 + kx_lo) * c, len);
        if (kx_hi < g.k_w) std::fill(p + kx_hi * c, p + row_len, 0.0f);
      }
    }
  }
}

void col2im_add(const Window& g, const float* dpatches, float* dx) {
  const int64_t c = g.in_c, row_len = static_cast<int64_t>(g.k_w) * c;
  const float* p = dpatches;
  for (int oy = 0; oy < g.out_h; ++oy) {
    const int iy0 = oy * g.stride_h - g.pad_top;
    for (int ox = 0; ox < g.out_w; ++ox) {
      const int ix0 = ox * g.stride_w - g.pad_left;
      const int kx_lo = std::max(0, -ix0), kx_hi = std::min(g.k_w, g.in_w - ix0);
      for (int ky = 0; ky < g.k_h; ++ky, p += row_len) {
        const int iy = iy0 + ky;
        if (iy < 0 || iy >= g.in_h || kx_lo >= kx_hi) continue;
        float* d = dx + (static_cast<int64_t>(iy) * g.in_w + ix0 + kx_lo) * c;
        const float* s = p + kx_lo * c;
        const int64_t len = (kx_hi - kx_lo) * c;
        for (int64_t i = 0; i < len; ++i) d[i] += s[i];
      }
    }
  }
}

namespace {

// Output columns [lo, hi) whose input column ox * stride - pad + k lies inside [0, size).
void valid_range(int out, int stride, int pad, int k, int size, int* lo, int* hi) {
  // ox * stride >= pad - k  and  ox * stride <= size - 1 + pad - k
  const int a = pad - k, b = size - 1 + pad - k;
  *lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  *hi = b < 0 ? 0 : std::min(out, b / stride + 1);
  if (*hi < *lo) *hi = *lo;
}

}  // namespace

void im2col_t(const Window& g, const float* x, float* patches, int64_t ld) {
  const int64_t c_n = g.in_c;
  for (int ky = 0; ky < g.k_h; ++ky) {
    for (int kx = 0; kx < g.k_w; ++kx) {
      int lo, hi;
      valid_range(g.out_w, g.stride_w, g.pad_left, kx, g.in_w, &lo, &hi);
      for (int64_t c = 0; c < c_n; ++c) {
        float* row = patches + ((static_cast<int64_t>(ky) * g.k_w + kx) * c_n + c) * ld;
        for (int oy = 0; oy < g.out_h; ++oy, row += g.out_w) {
          const int iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= g.in_h) {
            std::fill(row, row + g.out_w, 0.0f);
            continue;
          }
          std::fill(row, row + lo, 0.0f);
          const int64_t step = g.stride_w * c_n;
          const float* src = x + (static_cast<int64_t>(iy) * g.in_w + lo * g.stride_w - g.pad_left + kx) * c_n + c;
          for (int ox = lo; ox < hi; ++ox, src += step) row[ox] = *src;
          std::fill(row + hi, row + g.out_w, 0.0f);
        }
      }
    }
  }
}

void col2im_t_add(const Window& g, const float* dpatches, int64_t ld, float* dx) {
  const int64_t c_n = g.in_c;
  for (int ky = 0; ky < g.k_h; ++ky) {
    for (int kx = 0; kx < g.k_w; ++kx) {
      int lo, hi;
      valid_range(g.out_w, g.stride_w, g.pad_left, kx, g.in_w, &lo, &hi);
      for (int64_t c = 0; c < c_n; ++c) {
        const float* row = dpatches + ((static_cast<int64_t>(ky) * g.k_w + kx) * c_n + c) * ld;
        for (int oy = 0; oy < g.out_h; ++oy, row += g.out_w) {
          const int iy = oy * g.stride_h - g.pad_top + ky;
          if (iy < 0 || iy >= g.in_h) continue;
          const int64_t step = g.stride_w * c_n;
          float* dst = dx + (static_cast<int64_t>(iy) * g.in_w + lo * g.stride_w - g.pad_left + kx) * c_n + c;
          for (int ox = lo; ox < hi; ++ox, dst += step) *dst += row[ox];
        }
      }
    }
  }
}

}  // namespace tinyc
