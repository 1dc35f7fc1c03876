// The emitted requantization helpers output_int8_hi (one multiply-accumulate) and
// output_int8_folded (rounding and zero point folded into one per-channel constant, used by the
// DSP conv and depthwise kernels) equal output_int8 (TFLite's two-rounding
// MultiplyByQuantizedMultiplier plus the zero point) for every right shift they are used with:
// the emitted helpers are compiled on the host and compared over edge values, a dense range
// (every rounding tie of large multipliers), the ties of each multiplier and random
// accumulators. One sweep serves both; each test case gives the comparison for one pair.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit_harness.h"

using tinyc_test::TempDir;

namespace {

// `compare` is the body of `bool same(int32_t acc, int32_t m, int e, int32_t zp)`: true when
// the helper under test agrees with output_int8. Shifts e_lo..e_hi (right shift e), `mults`
// multipliers per shift (6 fixed edge values, then random ones with and without bit 30),
// accumulators -dense..dense plus powers of two, edges, random values and rounding ties.
std::string run_checker(int e_lo, int e_hi, int mults, int dense, const std::string& compare) {
  TempDir dir;
  const std::string checker = "#include <cstdint>\n#include <cstdio>\n" +
                              tinyc::int8_helpers(true, false, false) + R"(
static uint32_t state = 2463534242u;
static uint32_t next_random() {  // xorshift32
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

static bool same(int32_t acc, int32_t m, int e, int32_t zp) {
)" + compare + fmt::format(R"(
}}

int main() {{
  const int32_t zero_points[] = {{-128, -127, -3, 0, 5, 127}};
  long checks = 0, wrong = 0;
  for (int e = {0}; e <= {1}; ++e) {{
    for (int mi = 0; mi < {2}; ++mi) {{
      const int32_t fixed[] = {{0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, 1518500250}};
      const int32_t m = mi < 6 ? fixed[mi]
                               : static_cast<int32_t>((next_random() >> 1) | (mi % 2 ? 1u << 30 : 0u));
      auto check = [&](int32_t acc) {{
        const int32_t zp = zero_points[checks % 6];
        ++checks;
        if (!same(acc, m, e, zp) && wrong++ < 5) {{
          std::printf("differs: e %d m %d acc %d zp %d\n", e, m, acc, zp);
        }}
      }};
      for (int32_t acc = -{3}; acc <= {3}; ++acc) check(acc);
)", e_lo, e_hi, mults, dense) + R"(
      for (int k = 0; k < 31; ++k) {
        for (int d = -2; d <= 2; ++d) {
          check(static_cast<int32_t>((1u << k) + static_cast<uint32_t>(d)));
          check(static_cast<int32_t>(0u - (1u << k) + static_cast<uint32_t>(d)));
        }
      }
      check(INT32_MIN);
      check(INT32_MIN + 1);
      check(INT32_MAX);
      for (int i = 0; i < 2000; ++i) check(static_cast<int32_t>(next_random()));
      // Near the rounding ties of this multiplier: acc * m close to (j + 1/2) 2^(31 + e).
      if (m > 0) {
        for (int j = -40; j < 40; ++j) {
          const double tie = (j + 0.5) * static_cast<double>(INT64_C(1) << (31 + e)) / m;
          if (tie > 2e9 || tie < -2e9) continue;
          for (int d = -2; d <= 2; ++d) check(static_cast<int32_t>(tie) + d);
        }
      }
    }
  }
  std::printf("%ld checks, %ld differ\n", checks, wrong);
  return wrong == 0 && checks > 1000000 ? 0 : 1;
}
)";
  tinyc_test::write_text(dir.path() + "/check.cpp", checker);
  tinyc_test::require_command(fmt::format(
      "g++ -std=c++11 -O2 -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover=all "
      "{0}/check.cpp -o {0}/check", dir.path()));
  return tinyc_test::require_command(dir.path() + "/check");
}

}  // namespace

TEST_CASE("output_int8_hi is bit-exact with output_int8 for shifts -1 to -31", "[emit]") {
  const std::string out = run_checker(1, 31, 40, 5000, R"(
  // Unclamped: with the zero point 3 - t the exact result is 3 (t: requantize's value).
  const int32_t t = requantize(acc, m, -e);
  return output_int8_hi(acc, m, 1 << (e - 1), e - 1, 3 - t, -128, 127) == 3 &&
         output_int8(acc, m, -e, zp, zp, 127) == output_int8_hi(acc, m, 1 << (e - 1), e - 1, zp, zp, 127);)");
  INFO(out);
  CHECK(out.find(" 0 differ") != std::string::npos);
}

TEST_CASE("output_int8_folded is bit-exact with output_int8 for shifts -2 to -22", "[emit]") {
  const std::string out = run_checker(2, 22, 24, 3000, R"(
  const int32_t k_hi = (1 << (e - 2)) + zp * (1 << (e - 1));
  // Unclamped: with the zero point 3 - t the exact result is 3 (t: requantize's value).
  const int32_t t = requantize(acc, m, -e);
  const int32_t zp3 = 3 - t;
  const bool in_range = zp3 >= -128 && zp3 <= 127;
  const int8_t got = in_range ? output_int8_folded(acc, m, (1 << (e - 2)) + zp3 * (1 << (e - 1)),
                                                   e - 1, -128, 127) : 3;
  const int32_t lo6 = zp > -100 ? zp - 20 : -128;
  return got == 3 &&
         output_int8(acc, m, -e, zp, -128, 127) == output_int8_folded(acc, m, k_hi, e - 1, -128, 127) &&
         output_int8(acc, m, -e, zp, zp, 127) == output_int8_folded(acc, m, k_hi, e - 1, zp, 127) &&
         output_int8(acc, m, -e, zp, lo6, 100) == output_int8_folded(acc, m, k_hi, e - 1, lo6, 100);)");
  INFO(out);
  CHECK(out.find(" 0 differ") != std::string::npos);
}

TEST_CASE("output_int8_doubled is bit-exact with output_int8 for shifts -1 to -22", "[emit]") {
  const std::string out = run_checker(1, 22, 24, 3000, R"(
  if (acc >= (1 << 30) || acc < -(1 << 30)) return true;  // the kernels' bound: |2 acc| < 2^31
  const int32_t acc2 = 2 * acc;
  auto c = [e](int32_t z) { return (1 << (e - 1)) + z * (1 << e); };
  // Unclamped: with the zero point 3 - t the exact result is 3 (t: requantize's value).
  const int32_t t = requantize(acc, m, -e);
  const int32_t zp3 = 3 - t;
  const bool in_range = zp3 >= -128 && zp3 <= 127;
  const int8_t got = in_range ? output_int8_doubled(acc2, m, c(zp3), e, true, -128, 127) : 3;
  const int32_t lo6 = zp > -100 ? zp - 20 : -128;
  // Without the negative ties: lo at or above the zero point (a ReLU's range).
  const int32_t relu_lo = zp < 120 ? zp + (acc & 3) : zp;
  return got == 3 &&
         output_int8(acc, m, -e, zp, -128, 127) == output_int8_doubled(acc2, m, c(zp), e, true, -128, 127) &&
         output_int8(acc, m, -e, zp, lo6, 100) == output_int8_doubled(acc2, m, c(zp), e, true, lo6, 100) &&
         output_int8(acc, m, -e, zp, zp, 127) == output_int8_doubled(acc2, m, c(zp), e, false, zp, 127) &&
         output_int8(acc, m, -e, zp, relu_lo, 127) ==
             output_int8_doubled(acc2, m, c(zp), e, false, relu_lo, 127);)");
  INFO(out);
  CHECK(out.find(" 0 differ") != std::string::npos);
}
