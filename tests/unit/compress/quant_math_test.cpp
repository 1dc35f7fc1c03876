// The TFLite integer primitives, pinned with hand-computed cases (ties, negatives, saturation,
// shifts both ways), and the int8 activation kernels against their float functions.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "tinyc/error.h"
#include "tinyc/quant_math.h"

using namespace tinyc;

namespace {
constexpr int32_t kQ30 = int32_t{1} << 30;  // 0.5 as a Q31 multiplier
}  // namespace

TEST_CASE("saturating_rounding_doubling_high_mul", "[quant_math]") {
  // round(a * b / 2^31), ties away from zero computed gemmlowp's way (nudge, then truncate).
  CHECK(saturating_rounding_doubling_high_mul(kQ30, kQ30) == (int32_t{1} << 29));
  CHECK(saturating_rounding_doubling_high_mul(3, kQ30) == 2);  // 1.5 -> 2
  CHECK(saturating_rounding_doubling_high_mul(1, kQ30) == 1);  // 0.5 -> 1
  // Negative ties: the nudge is 1 - 2^30, so -1.5 -> -1 and -0.5 -> 0 (as ARM VQRDMULH).
  CHECK(saturating_rounding_doubling_high_mul(-3, kQ30) == -1);
  CHECK(saturating_rounding_doubling_high_mul(-1, kQ30) == 0);
  CHECK(saturating_rounding_doubling_high_mul(-5, kQ30) == -2);  // -2.5 -> -2
  CHECK(saturating_rounding_doubling_high_mul(-7, kQ30) == -3);  // -3.5 -> -3
  CHECK(saturating_rounding_doubling_high_mul(-4, kQ30) == -2);  // exact
  // The one overflowing product saturates.
  CHECK(saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN) == INT32_MAX);
  CHECK(saturating_rounding_doubling_high_mul(INT32_MAX, INT32_MAX) == 2147483646);
  CHECK(saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX) == -2147483647);
  CHECK(saturating_rounding_doubling_high_mul(INT32_MIN, kQ30) == -kQ30);
  CHECK(saturating_rounding_doubling_high_mul(0, INT32_MIN) == 0);
}

TEST_CASE("rounding_divide_by_pot rounds half away from zero", "[quant_math]") {
  CHECK(rounding_divide_by_pot(5, 1) == 3);    // 2.5
  CHECK(rounding_divide_by_pot(-5, 1) == -3);  // -2.5
  CHECK(rounding_divide_by_pot(-3, 1) == -2);  // -1.5
  CHECK(rounding_divide_by_pot(-1, 1) == -1);  // -0.5
  CHECK(rounding_divide_by_pot(1, 1) == 1);    // 0.5
  CHECK(rounding_divide_by_pot(-4, 1) == -2);
  CHECK(rounding_divide_by_pot(7, 2) == 2);    // 1.75
  CHECK(rounding_divide_by_pot(6, 2) == 2);    // 1.5
  CHECK(rounding_divide_by_pot(-6, 2) == -2);  // -1.5
  CHECK(rounding_divide_by_pot(-7, 2) == -2);  // -1.75
  CHECK(rounding_divide_by_pot(-5, 2) == -1);  // -1.25
  CHECK(rounding_divide_by_pot(123, 0) == 123);
  CHECK(rounding_divide_by_pot(-123, 0) == -123);
  CHECK(rounding_divide_by_pot(INT32_MIN, 31) == -1);
  CHECK(rounding_divide_by_pot(INT32_MAX, 31) == 1);
  CHECK(rounding_divide_by_pot(kQ30 - 1, 31) == 0);  // just under 0.5
  CHECK(rounding_divide_by_pot(kQ30, 31) == 1);      // 0.5
  CHECK(rounding_divide_by_pot(-kQ30, 31) == -1);    // -0.5
}

TEST_CASE("saturating_rounding_multiply_by_pot", "[quant_math]") {
  CHECK(saturating_rounding_multiply_by_pot(int32_t{1} << 29, 1) == kQ30);
  CHECK(saturating_rounding_multiply_by_pot(kQ30, 1) == INT32_MAX);
  CHECK(saturating_rounding_multiply_by_pot(-kQ30, 1) == INT32_MIN);
  CHECK(saturating_rounding_multiply_by_pot(-3, 2) == -12);
  CHECK(saturating_rounding_multiply_by_pot(-5, -1) == -3);
  CHECK(saturating_rounding_multiply_by_pot(7, 0) == 7);
}

TEST_CASE("quantize_multiplier matches TFLite QuantizeMultiplier", "[quant_math]") {
  CHECK(quantize_multiplier(0.0) == QuantizedMultiplier{0, 0});
  CHECK(quantize_multiplier(0.5) == QuantizedMultiplier{kQ30, 0});
  CHECK(quantize_multiplier(1.0) == QuantizedMultiplier{kQ30, 1});
  CHECK(quantize_multiplier(0.75) == QuantizedMultiplier{1610612736, 0});
  CHECK(quantize_multiplier(3.0) == QuantizedMultiplier{1610612736, 2});
  CHECK(quantize_multiplier(0.1) == QuantizedMultiplier{1717986918, -3});  // 0.8 * 2^31 = ...918.4
  CHECK(quantize_multiplier(0.25) == QuantizedMultiplier{kQ30, -1});
  // q rounds up to 2^31: halved, shift + 1.
  CHECK(quantize_multiplier(1.0 - std::ldexp(1.0, -40)) == QuantizedMultiplier{kQ30, 1});
  // Below 2^-32 the shift would pass -31: flushed to zero.
  CHECK(quantize_multiplier(std::ldexp(1.0, -40)) == QuantizedMultiplier{0, 0});
  CHECK(quantize_multiplier(std::ldexp(1.0, -31)) == QuantizedMultiplier{kQ30, -30});
  CHECK_THROWS_AS(quantize_multiplier(-0.5), Error);
  CHECK_THROWS_AS(quantize_multiplier(std::nan("")), Error);
}

TEST_CASE("multiply_by_quantized_multiplier: double rounding, shifts both ways", "[quant_math]") {
  const QuantizedMultiplier one = quantize_multiplier(1.0);       // {2^30, +1}: left shift
  const QuantizedMultiplier half = quantize_multiplier(0.5);      // {2^30, 0}
  const QuantizedMultiplier quarter = quantize_multiplier(0.25);  // {2^30, -1}: right shift
  const QuantizedMultiplier three = quantize_multiplier(3.0);     // {0.75 * 2^31, +2}
  CHECK(multiply_by_quantized_multiplier(100, one) == 100);
  CHECK(multiply_by_quantized_multiplier(-100, one) == -100);
  CHECK(multiply_by_quantized_multiplier(-100, half) == -50);
  CHECK(multiply_by_quantized_multiplier(3, half) == 2);       // 1.5 -> 2
  CHECK(multiply_by_quantized_multiplier(-3, half) == -1);     // -1.5 -> -1 (high-mul tie rule)
  CHECK(multiply_by_quantized_multiplier(6, quarter) == 2);    // 1.5 -> 2
  CHECK(multiply_by_quantized_multiplier(-6, quarter) == -2);  // -1.5 -> -2 (shift tie rule)
  CHECK(multiply_by_quantized_multiplier(-2, quarter) == -1);  // -0.5 -> -1
  CHECK(multiply_by_quantized_multiplier(2, quarter) == 1);    // 0.5 -> 1
  CHECK(multiply_by_quantized_multiplier(10, three) == 30);
  CHECK(multiply_by_quantized_multiplier(-10, three) == -30);
  // Double rounding: M = 0.325 (q = 0.65, shift -1), x = 4: the high multiply rounds 2.6 up to
  // 3, the shift rounds 1.5 up to 2, where a single rounding of 1.3 would give 1.
  const QuantizedMultiplier m0325 = quantize_multiplier(0.325);
  CHECK(m0325.shift == -1);
  CHECK(multiply_by_quantized_multiplier(4, m0325) == 2);
  CHECK(multiply_by_quantized_multiplier(-4, m0325) == -2);
  CHECK(multiply_by_quantized_multiplier(2, m0325) == 1);  // 1.3 -> 1, 1 / 2 = 0.5 -> 1
  // Accumulator-sized values with a typical requantization multiplier.
  const QuantizedMultiplier m = quantize_multiplier(0.0012345);
  CHECK(multiply_by_quantized_multiplier(1000001, m) == 1235);  // 1234.5012
  CHECK(multiply_by_quantized_multiplier(-1000001, m) == -1235);
  CHECK(multiply_by_quantized_multiplier(999000, m) == 1233);  // 1233.2655
  CHECK(multiply_by_quantized_multiplier(0, m) == 0);
}

TEST_CASE("quantize_int8 and dequantize_int8", "[quant_math]") {
  CHECK(quantize_int8(0.0f, 0.1f, -3) == -3);
  CHECK(quantize_int8(0.25f, 0.5f, 0) == 1);    // 0.5 -> 1 (half away from zero)
  CHECK(quantize_int8(-0.25f, 0.5f, 0) == -1);  // -0.5 -> -1
  CHECK(quantize_int8(1000.0f, 0.1f, 0) == 127);
  CHECK(quantize_int8(-1e30f, 0.1f, 5) == -128);
  CHECK(dequantize_int8(-128, 1.0f / 256, -128) == 0.0f);
  CHECK(dequantize_int8(127, 0.5f, -1) == 64.0f);
}

TEST_CASE("fused activation ranges", "[quant_math]") {
  const ActivationRange none = activation_range_int8(FusedActivation::kNone, 0.1f, 3);
  CHECK((none.min == -128 && none.max == 127));
  const ActivationRange relu = activation_range_int8(FusedActivation::kRelu, 0.1f, -20);
  CHECK((relu.min == -20 && relu.max == 127));
  const ActivationRange relu6 = activation_range_int8(FusedActivation::kRelu6, 0.05f, -128);
  CHECK((relu6.min == -128 && relu6.max == -8));  // -128 + round(6 / 0.05) = -8
  const ActivationRange wide = activation_range_int8(FusedActivation::kRelu6, 0.01f, 0);
  CHECK((wide.min == 0 && wide.max == 127));
}

TEST_CASE("gemmlowp fixed-point functions", "[quant_math]") {
  const double q31 = 2147483648.0;
  CHECK(fixed_exp_on_negative_values(0, 5) == INT32_MAX);
  for (double a : {-0.01, -0.25, -0.3, -1.0, -2.5, -7.9, -15.0, -31.0}) {
    const auto raw = static_cast<int32_t>(std::lround(a * (1 << 26)));  // 5 integer bits
    const double got = fixed_exp_on_negative_values(raw, 5) / q31;
    CHECK(got == Approx(std::exp(a)).margin(2e-9 * 8));
  }
  CHECK(fixed_logistic(0, 4) == kQ30);
  CHECK(fixed_tanh(0, 4) == 0);
  for (double a : {-7.5, -2.0, -0.5, -0.01, 0.01, 0.5, 2.0, 7.5}) {
    const auto raw = static_cast<int32_t>(std::lround(a * (1 << 27)));  // 4 integer bits
    CHECK(fixed_logistic(raw, 4) / q31 == Approx(1.0 / (1.0 + std::exp(-a))).margin(1e-7));
    CHECK(fixed_tanh(raw, 4) / q31 == Approx(std::tanh(a)).margin(1e-7));
  }
  for (double a : {0.001, 0.25, 0.5, 0.9}) {
    const auto raw = static_cast<int32_t>(std::lround(a * q31));
    CHECK(fixed_one_over_one_plus_x_for_x_in_0_1(raw) / q31 ==
          Approx(1.0 / (1.0 + a)).margin(1e-8));
    CHECK(fixed_one_minus_x_over_one_plus_x_for_x_in_0_1(raw) / q31 ==
          Approx((1.0 - a) / (1.0 + a)).margin(1e-8));
  }
  int bits = 0;
  const int32_t r = fixed_reciprocal(int32_t{3} << 19, 12, &bits);  // 3.0 in Q12
  CHECK(bits == 1);                                                 // 1/3 = (2/3) * 2^-1
  CHECK(r / q31 == Approx(2.0 / 3.0).margin(1e-8));
}

TEST_CASE("int8 logistic and tanh follow their float functions", "[quant_math]") {
  for (float scale : {0.02f, 0.0625f, 0.1f, 0.3f}) {
    for (int32_t zp : {-128, -20, 0, 57}) {
      const SigmoidTanhParams p = sigmoid_tanh_params(scale, zp);
      for (int q = -128; q <= 127; ++q) {
        const float x = scale * static_cast<float>(q - zp);
        const auto qi = static_cast<int8_t>(q);
        const double s = std::lround(256.0 / (1.0 + std::exp(-x))) - 128.0;
        const double t = std::lround(128.0 * std::tanh(x));
        CHECK(std::fabs(logistic_int8(qi, p) - std::min(s, 127.0)) <= 1.0);
        CHECK(std::fabs(tanh_int8(qi, p) - std::max(std::min(t, 127.0), -128.0)) <= 1.0);
      }
    }
  }
  // Exact points: 0 maps to the middle; saturated inputs to the ends.
  const SigmoidTanhParams p = sigmoid_tanh_params(0.1f, 0);
  CHECK(logistic_int8(0, p) == 0);
  CHECK(tanh_int8(0, p) == 0);
  CHECK(logistic_int8(127, p) == 127);
  CHECK(logistic_int8(-128, p) == -128);
  CHECK(tanh_int8(127, p) == 127);
  CHECK(tanh_int8(-128, p) == -128);
}

TEST_CASE("int8 softmax follows float softmax", "[quant_math]") {
  for (float scale : {0.05f, 0.1f, 0.25f}) {
    const SoftmaxParams p = softmax_params(scale, 1.0f);
    const std::vector<int8_t> x = {-128, -100, -50, 0, 3, 10, 60, 127, 126, -7};
    std::vector<int8_t> y(x.size());
    softmax_int8(x.data(), y.data(), static_cast<int64_t>(x.size()), p);
    double sum = 0.0, m = -1e9;
    for (int8_t v : x) m = std::max(m, static_cast<double>(v));
    for (int8_t v : x) sum += std::exp(scale * (v - m));
    for (size_t i = 0; i < x.size(); ++i) {
      const double expected = std::exp(scale * (x[i] - m)) / sum * 256.0 - 128.0;
      CHECK(std::fabs(y[i] - std::min(expected, 127.0)) <= 1.0);
    }
  }
  // A constant row: every value 1/k.
  const SoftmaxParams p = softmax_params(0.1f, 1.0f);
  const std::vector<int8_t> x(4, 17);
  std::vector<int8_t> y(4);
  softmax_int8(x.data(), y.data(), 4, p);
  for (int8_t v : y) CHECK(v == -64);  // 0.25 * 256 - 128
}

TEST_CASE("softmax_int8_to_int16 follows the float softmax in Q0.16", "[quant_math]") {
  using tinyc::SoftmaxParams;
  const float scale = 0.1f;
  const SoftmaxParams p = tinyc::softmax_params(scale, 1.0f);
  const std::vector<int8_t> x = {-128, -100, -50, 0, 3, 10, 60, 127, 126, -7};
  std::vector<int16_t> y(x.size());
  tinyc::softmax_int8_to_int16(x.data(), y.data(), static_cast<int64_t>(x.size()), p);
  double sum = 0.0;
  for (int8_t v : x) sum += std::exp(scale * (v - 127));
  for (size_t i = 0; i < x.size(); ++i) {
    const double expected = std::exp(scale * (x[i] - 127)) / sum * 65536.0 - 32768.0;
    CHECK(std::fabs(y[i] - std::min(expected, 32767.0)) <= 2.0);
  }
  // Two equal values: exactly one half each, the zero point + 32768.
  const std::vector<int8_t> two(2, -5);
  std::vector<int16_t> half(2);
  tinyc::softmax_int8_to_int16(two.data(), half.data(), 2, p);
  CHECK(half == std::vector<int16_t>{0, 0});
}

TEST_CASE("quantize_multiplier saturates multipliers of 2^30 and more", "[quant_math]") {
  const tinyc::QuantizedMultiplier m = tinyc::quantize_multiplier(std::ldexp(1.0, 40));
  CHECK(m.shift == 30);
  CHECK(m.multiplier == INT32_MAX);
  // 2^30 x (2^31 - 1) / 2^31, rounded: defined arithmetic, no shift past 31 bits.
  CHECK(tinyc::multiply_by_quantized_multiplier(1, m) == (1 << 30));
}
