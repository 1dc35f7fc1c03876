#include "layers/dense_kernels.h"

#include <algorithm>

#include "layers/layer_util.h"

#if defined(__AVX512F__) && defined(__AVX512DQ__)
#include <immintrin.h>
#define TINYC_DENSE_AVX512 1
#endif

namespace tinyc {

#ifdef TINYC_DENSE_AVX512
namespace {

// Lanes [0, count) of a 16-float vector, count in [1, 16].
inline __mmask16 lanes(int64_t count) {
  return static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1u);
}

// The four horizontal sums of a, b, c, d.
inline __m128 sum4(__m512 a, __m512 b, __m512 c, __m512 d) {
  auto half = [](__m512 v) {
    return _mm256_add_ps(_mm512_extractf32x8_ps(v, 0), _mm512_extractf32x8_ps(v, 1));
  };
  const __m256 ab = _mm256_hadd_ps(half(a), half(b));
  const __m256 cd = _mm256_hadd_ps(half(c), half(d));
  const __m256 abcd = _mm256_hadd_ps(ab, cd);
  return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

// Loads 16 floats, or the first lanes of `mask` (zeros elsewhere) when kMasked: a full load
// stays a plain load, which is faster than a masked one on some cores.
template <bool kMasked>
inline __m512 load16(const float* p, __mmask16 mask) {
  if constexpr (kMasked) {
    return _mm512_maskz_loadu_ps(mask, p);
  } else {
    return _mm512_loadu_ps(p);
  }
}

// acc[u][r] += w[u*in + i ..] * x[r*in + i ..] over one vector of inputs.
template <int kUnits, int kRows, bool kMasked>
__attribute__((always_inline)) inline void dot_step(__m512 (&acc)[kUnits][kRows], const float* w,
                                                    const float* x, int64_t in, int64_t i,
                                                    __mmask16 mask) {
  __m512 wv[kUnits];
  for (int u = 0; u < kUnits; ++u) wv[u] = load16<kMasked>(w + u * in + i, mask);
  for (int r = 0; r < kRows; ++r) {
    const __m512 xv = load16<kMasked>(x + r * in + i, mask);
    for (int u = 0; u < kUnits; ++u) acc[u][r] = _mm512_fmadd_ps(wv[u], xv, acc[u][r]);
  }
}

// y[r*ldy + u] = dot(w row u, x row r) for kUnits units x kRows rows; the last vector of
// each row is masked to `tail` lanes.
template <int kUnits, int kRows>
void dot_block(const float* w, const float* x, int64_t in, __mmask16 tail, float* y,
               int64_t ldy) {
  __m512 acc[kUnits][kRows];
  for (auto& row : acc) {
    for (__m512& a : row) a = _mm512_setzero_ps();
  }
  int64_t i = 0;
  for (; i + 16 < in; i += 16) dot_step<kUnits, kRows, false>(acc, w, x, in, i, 0xffff);
  dot_step<kUnits, kRows, true>(acc, w, x, in, i, tail);
  for (int r = 0; r < kRows; ++r) {
    if constexpr (kUnits % 4 == 0) {
      for (int u = 0; u < kUnits; u += 4) {
        _mm_storeu_ps(y + r * ldy + u, sum4(acc[u][r], acc[u + 1][r], acc[u + 2][r], acc[u + 3][r]));
      }
    } else {
      for (int u = 0; u < kUnits; ++u) {
        y[r * ldy + u] = _mm_cvtss_f32(sum4(acc[u][r], acc[u][r], acc[u][r], acc[u][r]));
      }
    }
  }
}

template <int kUnits>
void dot_rows(const float* w, const float* x, int64_t n, int64_t in, __mmask16 tail, float* y,
              int64_t ldy) {
  constexpr int kRows = 3;
  int64_t r = 0;
  for (; r + kRows <= n; r += kRows) dot_block<kUnits, kRows>(w, x + r * in, in, tail, y + r * ldy, ldy);
  for (; r < n; ++r) dot_block<kUnits, 1>(w, x + r * in, in, tail, y + r * ldy, ldy);
}

// dw[u*in + i] for kUnits units x kVectors vectors of 16 inputs; when kMasked, the last
// vector holds only the lanes of `last`.
template <int kUnits, int kVectors, bool kMasked>
void outer_block(const float* dz, int64_t ldz, const float* x, int64_t n, int64_t in,
                 __mmask16 last, float* dw) {
  __m512 acc[kUnits][kVectors];
  for (auto& row : acc) {
    for (__m512& a : row) a = _mm512_setzero_ps();
  }
  for (int64_t r = 0; r < n; ++r) {
    __m512 xv[kVectors];
    for (int j = 0; j < kVectors - 1; ++j) xv[j] = _mm512_loadu_ps(x + r * in + 16 * j);
    xv[kVectors - 1] = load16<kMasked>(x + r * in + 16 * (kVectors - 1), last);
    for (int u = 0; u < kUnits; ++u) {
      const __m512 d = _mm512_set1_ps(dz[r * ldz + u]);
      for (int j = 0; j < kVectors; ++j) acc[u][j] = _mm512_fmadd_ps(d, xv[j], acc[u][j]);
    }
  }
  for (int u = 0; u < kUnits; ++u) {
    for (int j = 0; j < kVectors; ++j) {
      if (kMasked && j == kVectors - 1) {
        _mm512_mask_storeu_ps(dw + u * in + 16 * j, last, acc[u][j]);
      } else {
        _mm512_storeu_ps(dw + u * in + 16 * j, acc[u][j]);
      }
    }
  }
}

template <int kUnits>
void outer_units(const float* dz, int64_t ldz, const float* x, int64_t n, int64_t in, float* dw) {
  int64_t i = 0;
  for (; i + 64 <= in; i += 64) outer_block<kUnits, 4, false>(dz, ldz, x + i, n, in, 0xffff, dw + i);
  for (; i + 16 <= in; i += 16) outer_block<kUnits, 1, false>(dz, ldz, x + i, n, in, 0xffff, dw + i);
  if (i < in) outer_block<kUnits, 1, true>(dz, ldz, x + i, n, in, lanes(in - i), dw + i);
}

}  // namespace

void dense_forward_product(const float* x, const float* w, int64_t n, int64_t in, int64_t units,
                           float* y, int64_t ldy) {
  if (n == 0) return;  // no rows: y may be null, and null + offset is UB (UBSan)
  if (in == 0) {
    for (int64_t r = 0; r < n; ++r) std::fill(y + r * ldy, y + r * ldy + units, 0.0f);
    return;
  }
  const __mmask16 tail = lanes(in - (in - 1) / 16 * 16);
  int64_t u = 0;
  for (; u + 8 <= units; u += 8) dot_rows<8>(w + u * in, x, n, in, tail, y + u, ldy);
  for (; u + 4 <= units; u += 4) dot_rows<4>(w + u * in, x, n, in, tail, y + u, ldy);
  for (; u < units; ++u) dot_rows<1>(w + u * in, x, n, in, tail, y + u, ldy);
}

void dense_weight_gradient(const float* dz, int64_t ldz, const float* x, int64_t n, int64_t in,
                           int64_t units, float* dw) {
  if (n == 0) {  // no rows: dz may be null (UBSan); the gradient is zero
    std::fill(dw, dw + units * in, 0.0f);
    return;
  }
  int64_t u = 0;
  for (; u + 6 <= units; u += 6) outer_units<6>(dz + u, ldz, x, n, in, dw + u * in);
  for (; u < units; ++u) outer_units<1>(dz + u, ldz, x, n, in, dw + u * in);
}

#else  // portable: Eigen

void dense_forward_product(const float* x, const float* w, int64_t n, int64_t in, int64_t units,
                           float* y, int64_t ldy) {
  ConstCols xm(x, in, n);
  ConstRowMajor wm(w, units, in);
  Eigen::Map<Eigen::MatrixXf, 0, Eigen::OuterStride<>> ym(y, units, n, Eigen::OuterStride<>(ldy));
  ym.noalias() = wm * xm;
}

void dense_weight_gradient(const float* dz, int64_t ldz, const float* x, int64_t n, int64_t in,
                           int64_t units, float* dw) {
  Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> dzm(dz, units, n,
                                                                  Eigen::OuterStride<>(ldz));
  ConstCols xm(x, in, n);
  RowMajor dwm(dw, units, in);
  dwm.noalias() = dzm * xm.transpose();
}

#endif

}  // namespace tinyc
