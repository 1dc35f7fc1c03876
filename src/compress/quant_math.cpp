// TFLite / gemmlowp integer arithmetic (see include/tinyc/quant_math.h). Raw fixed-point values
// are int32; additions wrap like the reference code's int32 adds on every target.
#include "tinyc/quant_math.h"

#include <algorithm>
#include <cmath>

#include "tinyc/error.h"

namespace tinyc {
namespace {

int32_t wrap_add(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b));
}
int32_t wrap_sub(int32_t a, int32_t b) {
  return static_cast<int32_t>(static_cast<uint32_t>(a) - static_cast<uint32_t>(b));
}
int32_t wrap_neg(int32_t a) { return wrap_sub(0, a); }

// Fixed-point multiply: the integer bits of the operands add up.
int32_t fmul(int32_t a, int32_t b) { return saturating_rounding_doubling_high_mul(a, b); }

// Changes the integer bits of a value from `src` to `dst` (gemmlowp Rescale).
int32_t rescale(int32_t x, int src, int dst) {
  return saturating_rounding_multiply_by_pot(x, src - dst);
}

// 1 << (fractional bits + exponent) for a format with `integer_bits`.
int32_t constant_pot(int integer_bits, int exponent) {
  return int32_t{1} << (31 - integer_bits + exponent);
}

constexpr int32_t kQ0One = INT32_MAX;  // 1.0 saturated in Q0

// exp(a) for a in [-1/4, 0), Q0: Taylor expansion around -1/8.
int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
  const int32_t constant_term = 1895147668;  // exp(-1/8)
  const int32_t constant_1_over_3 = 715827883;
  const int32_t x = wrap_add(a, constant_pot(0, -3));
  const int32_t x2 = fmul(x, x);
  const int32_t x3 = fmul(x2, x);
  const int32_t x4 = fmul(x2, x2);
  const int32_t x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
  const int32_t poly = saturating_rounding_multiply_by_pot(
      wrap_add(fmul(wrap_add(x4_over_4, x3), constant_1_over_3), x2), -1);
  return wrap_add(constant_term, fmul(constant_term, wrap_add(x, poly)));
}

// Newton-Raphson for 1 / half_denominator in Q2 (gemmlowp's 48/17 - 32/17 d start).
int32_t reciprocal_of_half_denominator_q2(int32_t a) {
  const int64_t sum = static_cast<int64_t>(a) + kQ0One;  // rounding half sum with 1.0
  const int32_t half_denominator = static_cast<int32_t>((sum + (sum >= 0 ? 1 : -1)) / 2);
  const int32_t constant_48_over_17 = 1515870810;       // Q2
  const int32_t constant_neg_32_over_17 = -1010580540;  // Q2
  int32_t x = wrap_add(constant_48_over_17, fmul(half_denominator, constant_neg_32_over_17));
  const int32_t q2_one = constant_pot(2, 0);
  for (int i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = fmul(half_denominator, x);    // Q2
    const int32_t one_minus = wrap_sub(q2_one, half_denominator_times_x);  // Q2
    x = wrap_add(x, rescale(fmul(x, one_minus), 4, 2));                    // Q4 -> Q2
  }
  return x;
}

// TFLite CalculateInputRadius: the largest input magnitude (in input steps) that the rescaled
// fixed-point input with `integer_bits` can hold.
int32_t input_radius(int integer_bits, int left_shift) {
  const double max_input_rescaled = 1.0 * ((1 << integer_bits) - 1) *
                                    static_cast<double>(int64_t{1} << (31 - integer_bits)) /
                                    static_cast<double>(int64_t{1} << left_shift);
  return static_cast<int32_t>(std::floor(max_input_rescaled));
}

}  // namespace

QuantizedMultiplier quantize_multiplier(double real) {
  if (!(real >= 0.0) || !std::isfinite(real)) {
    unsupported("cannot quantize the multiplier {} (must be finite and >= 0)", real);
  }
  QuantizedMultiplier m;
  if (real == 0.0) return m;
  int shift = 0;
  const double q = std::frexp(real, &shift);
  auto q_fixed = static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31)));
  if (q_fixed == (int64_t{1} << 31)) {
    q_fixed /= 2;
    ++shift;
  }
  if (shift < -31) {
    shift = 0;
    q_fixed = 0;
  }
  // As TFLite: multipliers of 2^30 and more saturate (shift 30, largest Q31 value). Such a
  // ratio of scales only comes from a broken model, and a larger shift would be undefined.
  if (shift > 30) {
    shift = 30;
    q_fixed = (int64_t{1} << 31) - 1;
  }
  m.multiplier = static_cast<int32_t>(q_fixed);
  m.shift = shift;
  return m;
}

int32_t saturating_rounding_multiply_by_pot(int32_t x, int exponent) {
  if (exponent <= 0) return rounding_divide_by_pot(x, -exponent);
  const int32_t threshold = static_cast<int32_t>((int64_t{1} << (31 - exponent)) - 1);
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return static_cast<int32_t>(static_cast<uint32_t>(x) << exponent);
}

int8_t quantize_int8(float x, float scale, int32_t zero_point) {
  const float scaled = std::round(x / scale);
  // Clamp in float first: a huge value must not overflow the int conversion.
  const float clamped = std::fmin(std::fmax(scaled, -1e9f), 1e9f);
  const int32_t q = static_cast<int32_t>(clamped) + zero_point;
  return static_cast<int8_t>(std::min<int32_t>(std::max<int32_t>(q, -128), 127));
}

float dequantize_int8(int8_t q, float scale, int32_t zero_point) {
  return static_cast<float>(static_cast<double>(scale) * (static_cast<int32_t>(q) - zero_point));
}

QuantizedMultiplier requant_multiplier(float in_scale, float w_scale, float out_scale,
                                       bool per_channel) {
  const double product = per_channel ? static_cast<double>(in_scale) * static_cast<double>(w_scale)
                                     : static_cast<double>(in_scale * w_scale);
  return quantize_multiplier(product / static_cast<double>(out_scale));
}

ActivationRange activation_range_int8(FusedActivation act, float out_scale,
                                      int32_t out_zero_point) {
  ActivationRange r;
  auto quantize = [&](float f) {
    return out_zero_point + static_cast<int32_t>(std::round(f / out_scale));
  };
  if (act == FusedActivation::kRelu) {
    r.min = std::max<int32_t>(-128, quantize(0.0f));
  } else if (act == FusedActivation::kRelu6) {
    r.min = std::max<int32_t>(-128, quantize(0.0f));
    r.max = std::min<int32_t>(127, quantize(6.0f));
  }
  return r;
}

int32_t fixed_exp_on_negative_values(int32_t a, int integer_bits) {
  const int fractional_bits = 31 - integer_bits;
  const int32_t one_quarter = constant_pot(integer_bits, -2);
  const int32_t mask = one_quarter - 1;
  const int32_t a_mod_quarter_minus_one_quarter = wrap_sub(a & mask, one_quarter);
  int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
      rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0));
  const int32_t remainder = wrap_sub(a_mod_quarter_minus_one_quarter, a);
  // Barrel shifter: multiply by exp(-2^e) for each bit e of the remainder.
  struct Step {
    int exponent;
    int32_t multiplier;  // exp(-2^exponent) in Q0
  };
  static const Step kSteps[] = {{-2, 1672461947}, {-1, 1302514674}, {0, 790015084}, {1, 290630308},
                                {2, 39332535},    {3, 720401},      {4, 242}};
  for (const Step& s : kSteps) {
    if (integer_bits > s.exponent) {
      const int shift = fractional_bits + s.exponent;
      if ((remainder & static_cast<int32_t>(uint32_t{1} << shift)) != 0) {
        result = fmul(result, s.multiplier);
      }
    }
  }
  if (integer_bits > 5) {
    const int32_t clamp = -(int32_t{1} << (36 - integer_bits));  // -32.0
    if (a < clamp) result = 0;
  }
  if (a == 0) result = kQ0One;
  return result;
}

int32_t fixed_one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int32_t x = reciprocal_of_half_denominator_q2(a);  // 2 / (1 + a) in Q2
  return rescale(x, 1, 0);                                 // reinterpreted as Q1 it is 1 / (1 + a)
}

int32_t fixed_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int32_t x = reciprocal_of_half_denominator_q2(a);
  return rescale(wrap_sub(x, constant_pot(2, 0)), 2, 0);  // 2 / (1 + a) - 1
}

int32_t fixed_logistic(int32_t a, int integer_bits) {
  if (a == 0) return int32_t{1} << 30;  // 0.5
  const bool positive = a > 0;
  const int32_t abs_input = positive ? a : wrap_neg(a);
  const int32_t result_if_positive = fixed_one_over_one_plus_x_for_x_in_0_1(
      fixed_exp_on_negative_values(wrap_neg(abs_input), integer_bits));
  return positive ? result_if_positive : wrap_sub(kQ0One, result_if_positive);
}

int32_t fixed_tanh(int32_t a, int integer_bits) {
  if (a == 0) return 0;
  const bool negative = a < 0;
  const int32_t n = negative ? a : wrap_neg(a);
  // exp(2n): the same raw value read with one more integer bit.
  const int32_t t = fixed_one_minus_x_over_one_plus_x_for_x_in_0_1(
      fixed_exp_on_negative_values(n, integer_bits + 1));
  return negative ? wrap_neg(t) : t;
}

int32_t fixed_reciprocal(int32_t x, int x_integer_digits, int* num_bits_over_unit) {
  const int headroom_plus_one = x == 0 ? 32 : __builtin_clz(static_cast<uint32_t>(x));
  *num_bits_over_unit = x_integer_digits - headroom_plus_one;
  const auto shifted_sum_minus_one = static_cast<int32_t>(
      (static_cast<uint32_t>(x) << (headroom_plus_one & 31)) - (uint32_t{1} << 31));
  return fixed_one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

SigmoidTanhParams sigmoid_tanh_params(float input_scale, int32_t input_zero_point) {
  constexpr int kInputIntegerBits = 4;
  SigmoidTanhParams p;
  p.input_zero_point = input_zero_point;
  const double real =
      static_cast<double>(input_scale) * static_cast<double>(1 << (31 - kInputIntegerBits));
  // TFLM prepares this multiplier with a bare frexp + round (no 2^31 fix-up).
  const double q = std::frexp(real, &p.input_left_shift);
  p.input_multiplier = static_cast<int32_t>(
      static_cast<int64_t>(std::round(q * static_cast<double>(int64_t{1} << 31))));
  p.input_range_radius = input_radius(kInputIntegerBits, p.input_left_shift);
  return p;
}

int8_t logistic_int8(int8_t x, const SigmoidTanhParams& p) {
  const int32_t input = static_cast<int32_t>(x) - p.input_zero_point;
  if (input <= -p.input_range_radius) return -128;
  if (input >= p.input_range_radius) return 127;
  const int32_t input_in_q4 =
      multiply_by_quantized_multiplier(input, p.input_multiplier, p.input_left_shift);
  const int32_t output_in_q0 = fixed_logistic(input_in_q4, 4);
  const int32_t out = rounding_divide_by_pot(output_in_q0, 31 - 8) + kProbabilityZeroPoint;
  return static_cast<int8_t>(std::min(std::max(out, -128), 127));
}

int8_t tanh_int8(int8_t x, const SigmoidTanhParams& p) {
  const int32_t input = static_cast<int32_t>(x) - p.input_zero_point;
  if (input <= -p.input_range_radius) return -128;
  if (input >= p.input_range_radius) return 127;
  const int32_t input_in_q4 =
      multiply_by_quantized_multiplier(input, p.input_multiplier, p.input_left_shift);
  const int32_t output_in_q0 = fixed_tanh(input_in_q4, 4);
  const int32_t out = rounding_divide_by_pot(output_in_q0, 31 - 7);
  return static_cast<int8_t>(std::min(std::max(out, -128), 127));
}

SoftmaxParams softmax_params(float input_scale, float beta) {
  constexpr int kScaledDiffIntegerBits = 5;
  SoftmaxParams p;
  const double max_real_multiplier = static_cast<double>((int64_t{1} << 31) - 1);
  const double real = std::min(static_cast<double>(beta) * static_cast<double>(input_scale) *
                                   static_cast<double>(1 << (31 - kScaledDiffIntegerBits)),
                               max_real_multiplier);
  if (!(real > 1.0)) {
    unsupported("softmax: input scale {} x beta {} is too small for int8 softmax", input_scale,
                beta);
  }
  const QuantizedMultiplier m = quantize_multiplier(real);
  p.input_multiplier = m.multiplier;
  p.input_left_shift = m.shift;
  p.diff_min = -input_radius(kScaledDiffIntegerBits, p.input_left_shift);
  return p;
}

namespace {

// TFLite's reference Softmax<int8_t, OutputT>: the probabilities in Q0.(bits) with the output
// type's minimum as zero point; `store(c, v)` receives each output value.
template <typename Store>
void softmax_int8_rows(const int8_t* x, int64_t depth, const SoftmaxParams& p, int out_bits,
                       int32_t out_min, int32_t out_max, Store store) {
  constexpr int kScaledDiffIntegerBits = 5;
  constexpr int kAccumulationIntegerBits = 12;
  int8_t max_in_row = INT8_MIN;
  for (int64_t c = 0; c < depth; ++c) max_in_row = std::max(max_in_row, x[c]);
  auto exp_of = [&](int64_t c) {
    const int32_t input_diff = static_cast<int32_t>(x[c]) - max_in_row;
    const int32_t rescaled = multiply_by_quantized_multiplier_greater_than_one(
        input_diff, p.input_multiplier, p.input_left_shift);
    return fixed_exp_on_negative_values(rescaled, kScaledDiffIntegerBits);
  };
  int32_t sum_of_exps = 0;  // Q12
  for (int64_t c = 0; c < depth; ++c) {
    if (static_cast<int32_t>(x[c]) - max_in_row >= p.diff_min) {
      sum_of_exps = wrap_add(sum_of_exps, rescale(exp_of(c), 0, kAccumulationIntegerBits));
    }
  }
  int num_bits_over_unit = 0;
  const int32_t shifted_scale =
      fixed_reciprocal(sum_of_exps, kAccumulationIntegerBits, &num_bits_over_unit);
  for (int64_t c = 0; c < depth; ++c) {
    if (static_cast<int32_t>(x[c]) - max_in_row >= p.diff_min) {
      const int32_t unsat =
          rounding_divide_by_pot(fmul(shifted_scale, exp_of(c)), num_bits_over_unit + 31 - out_bits);
      store(c, std::max(std::min(unsat + out_min, out_max), out_min));
    } else {
      store(c, out_min);
    }
  }
}

}  // namespace

void softmax_int8(const int8_t* x, int8_t* y, int64_t depth, const SoftmaxParams& p) {
  softmax_int8_rows(x, depth, p, 8, INT8_MIN, INT8_MAX,
                    [y](int64_t c, int32_t v) { y[c] = static_cast<int8_t>(v); });
}

void softmax_int8_to_int16(const int8_t* x, int16_t* y, int64_t depth, const SoftmaxParams& p) {
  softmax_int8_rows(x, depth, p, 16, INT16_MIN, INT16_MAX,
                    [y](int64_t c, int32_t v) { y[c] = static_cast<int16_t>(v); });
}

}  // namespace tinyc
