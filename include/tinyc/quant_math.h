// The integer arithmetic of the TFLite / TFLite Micro reference kernels (DESIGN.md §6), written
// from their documented behaviour so that tinyc's int8 reference executor, the emitted code
// (which precomputes its constants with these functions) and TFLM give the same bytes.
//
// Fixed-point values are raw int32 with a number of integer bits: raw / 2^(31 - integer_bits).
// "Q0" (zero integer bits) values lie in [-1, 1).
#pragma once

#include <cstdint>

namespace tinyc {

// A real multiplier M ≈ multiplier * 2^(shift - 31), multiplier in [2^30, 2^31) (or 0).
struct QuantizedMultiplier {
  int32_t multiplier = 0;
  int shift = 0;  // > 0: left shift; < 0: right shift
  bool operator==(const QuantizedMultiplier& o) const {
    return multiplier == o.multiplier && shift == o.shift;
  }
};

// TFLite QuantizeMultiplier: frexp(real) = q * 2^shift with q in [0.5, 1); multiplier =
// round-half-away(q * 2^31); a multiplier of exactly 2^31 becomes 2^30 with shift + 1; a shift
// below -31 becomes {0, 0}. real == 0 gives {0, 0}. Throws Error(kUnsupported) for a negative
// or non-finite real (no tinyc kernel needs one).
QuantizedMultiplier quantize_multiplier(double real);

// round-half-away-from-zero(a * b / 2^31), saturating the one overflowing case
// (INT32_MIN * INT32_MIN) to INT32_MAX. The ±0.5 nudge is added before a truncating division,
// as in gemmlowp.
inline int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * static_cast<int64_t>(b);
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30);
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent rounded half away from zero (exponent in [0, 31]), gemmlowp's
// RoundingDivideByPOT: -5 / 2 = -3, -3 / 2 = -2, 5 / 2 = 3.
inline int32_t rounding_divide_by_pot(int32_t x, int exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * 2^exponent saturated to int32 (exponent > 0), or rounding_divide_by_pot(x, -exponent)
// (exponent <= 0): gemmlowp's SaturatingRoundingMultiplyByPOT.
int32_t saturating_rounding_multiply_by_pot(int32_t x, int exponent);

// TFLM's default ("double rounding") MultiplyByQuantizedMultiplier:
//   rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x * 2^left, m), right)
// with left = max(shift, 0), right = max(-shift, 0). The left shift wraps like the int32
// multiply of the reference code on every target (it never overflows for multipliers < 1).
inline int32_t multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  const auto shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left);
  return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right);
}
inline int32_t multiply_by_quantized_multiplier(int32_t x, QuantizedMultiplier m) {
  return multiply_by_quantized_multiplier(x, m.multiplier, m.shift);
}

// TFLite's MultiplyByQuantizedMultiplierGreaterThanOne (softmax): no final right shift.
inline int32_t multiply_by_quantized_multiplier_greater_than_one(int32_t x, int32_t multiplier,
                                                                 int left_shift) {
  const auto shifted = static_cast<int32_t>(static_cast<uint32_t>(x) << left_shift);
  return saturating_rounding_doubling_high_mul(shifted, multiplier);
}

// --- Quantize / dequantize (TFLite QUANTIZE and DEQUANTIZE reference kernels) -------------

// clamp(round-half-away(x / scale) + zero_point, -128, 127), the division in float.
int8_t quantize_int8(float x, float scale, int32_t zero_point);
// float(double(scale) * (q - zero_point)).
float dequantize_int8(int8_t q, float scale, int32_t zero_point);

// --- Requantizing kernels' constants ------------------------------------------------------

// The requantization multiplier of FULLY_CONNECTED / CONV_2D for output channel c.
// Per channel (TFLM: the weights have MORE THAN ONE scale): double(in) * double(w[c]) /
// double(out). Per tensor (one weight scale, even with quant.axis 0; TFLM
// GetQuantizedConvolutionMultipler): double(float(in * w)) / double(out) — the product is
// rounded to float first, as TFLM does.
QuantizedMultiplier requant_multiplier(float in_scale, float w_scale, float out_scale,
                                       bool per_channel);

// The int8 output range of a fused activation (TFLM CalculateActivationRangeQuantized):
// none: [-128, 127]; relu: [max(-128, zp), 127]; relu6: [max(-128, zp), min(127, zp +
// round(6 / scale))].
enum class FusedActivation : uint8_t { kNone, kRelu, kRelu6 };
struct ActivationRange {
  int32_t min = -128;
  int32_t max = 127;
};
ActivationRange activation_range_int8(FusedActivation act, float out_scale, int32_t out_zero_point);

// --- gemmlowp fixed-point functions (raw int32 values) -------------------------------------

// exp(a) for a <= 0, `a` with `integer_bits` integer bits; result in Q0 (1.0 saturates to
// INT32_MAX).
int32_t fixed_exp_on_negative_values(int32_t a, int integer_bits);
// 1 / (1 + a) for a in [0, 1), Q0 in, Q0 out (three Newton-Raphson steps).
int32_t fixed_one_over_one_plus_x_for_x_in_0_1(int32_t a);
// (1 - a) / (1 + a) for a in [0, 1), Q0 in, Q0 out.
int32_t fixed_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a);
// logistic(a) and tanh(a), `a` with `integer_bits` integer bits, Q0 out.
int32_t fixed_logistic(int32_t a, int integer_bits);
int32_t fixed_tanh(int32_t a, int integer_bits);
// TFLite GetReciprocal: 1 / x for x > 0 with `x_integer_digits` integer bits, as a Q0 value
// scaled by 2^-num_bits_over_unit.
int32_t fixed_reciprocal(int32_t x, int x_integer_digits, int* num_bits_over_unit);

// --- LOGISTIC / TANH int8 (TFLite reference_integer_ops, as TFLM prepares them) -----------

// The fixed int8 output parameters of SOFTMAX and LOGISTIC, and of TANH.
constexpr float kProbabilityScale = 1.0f / 256.0f;
constexpr int32_t kProbabilityZeroPoint = -128;
constexpr float kTanhScale = 1.0f / 128.0f;
constexpr int32_t kTanhZeroPoint = 0;

struct SigmoidTanhParams {
  int32_t input_zero_point = 0;
  int32_t input_range_radius = 0;
  int32_t input_multiplier = 0;
  int input_left_shift = 0;
};
// The same preparation for both: input rescaled to Q4.27 (4 integer bits).
SigmoidTanhParams sigmoid_tanh_params(float input_scale, int32_t input_zero_point);
// Output quantization is fixed: logistic (1/256, -128), tanh (1/128, 0).
int8_t logistic_int8(int8_t x, const SigmoidTanhParams& p);
int8_t tanh_int8(int8_t x, const SigmoidTanhParams& p);

// --- SOFTMAX int8 (TFLite reference Softmax<int8_t, int8_t>) -------------------------------

struct SoftmaxParams {
  int32_t input_multiplier = 0;
  int input_left_shift = 0;
  int32_t diff_min = 0;
};
SoftmaxParams softmax_params(float input_scale, float beta);
// One row of `depth` values; output quantization fixed at (1/256, -128).
void softmax_int8(const int8_t* x, int8_t* y, int64_t depth, const SoftmaxParams& p);
// The same with an int16 output (TFLite Softmax<int8_t, int16_t>): quantization fixed at
// (1/65536, -32768).
void softmax_int8_to_int16(const int8_t* x, int16_t* y, int64_t depth, const SoftmaxParams& p);

}  // namespace tinyc
