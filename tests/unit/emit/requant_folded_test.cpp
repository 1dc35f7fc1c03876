// output_int8_folded (requantization with the rounding and the zero point folded into one
// per-channel constant, used by the DSP depthwise kernels) equals output_int8 (TFLite's
// two-rounding MultiplyByQuantizedMultiplier plus the zero point) for every right shift and
// zero point it is used with: the emitted helpers are compiled on the host and compared over
// edge values, a dense range, rounding ties and random accumulators.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit_harness.h"

using tinyc_test::TempDir;

TEST_CASE("output_int8_folded is bit-exact with output_int8 for shifts -2 to -22", "[emit]") {
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

int main() {
  long checks = 0, wrong = 0;
  for (int e = 2; e <= 22; ++e) {
    for (int mi = 0; mi < 24; ++mi) {
      const int32_t fixed[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, 1518500250};
      const int32_t m = mi < 6 ? fixed[mi]
                               : static_cast<int32_t>((next_random() >> 1) | (mi % 2 ? 1u << 30 : 0u));
      const int32_t zero_points[] = {-128, -127, -3, 0, 5, 127};
      auto check = [&](int32_t acc) {
        const int32_t zp = zero_points[checks % 6];
        ++checks;
        const int32_t k_hi = (1 << (e - 2)) + zp * (1 << (e - 1));
        // Unclamped: with the zero point -t + 3 the exact result is 3 (t: requantize's value).
        const int32_t t = requantize(acc, m, -e);
        const int32_t zp3 = 3 - t;
        const bool in_range = zp3 >= -128 && zp3 <= 127;
        const int8_t got = in_range ? output_int8_folded(acc, m, (1 << (e - 2)) + zp3 * (1 << (e - 1)),
                                                         e - 1, -128, 127) : 3;
        const int8_t want_full = output_int8(acc, m, -e, zp, -128, 127);
        const int8_t got_full = output_int8_folded(acc, m, k_hi, e - 1, -128, 127);
        const int8_t want_relu = output_int8(acc, m, -e, zp, zp, 127);
        const int8_t got_relu = output_int8_folded(acc, m, k_hi, e - 1, zp, 127);
        const int8_t want_relu6 = output_int8(acc, m, -e, zp, zp > -100 ? zp - 20 : -128, 100);
        const int8_t got_relu6 = output_int8_folded(acc, m, k_hi, e - 1, zp > -100 ? zp - 20 : -128, 100);
        if (got != 3 || want_full != got_full || want_relu != got_relu || want_relu6 != got_relu6) {
          if (wrong++ < 5) std::printf("differs: e %d m %d acc %d zp %d\n", e, m, acc, zp);
        }
      };
      for (int32_t acc = -3000; acc <= 3000; ++acc) check(acc);
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
  const std::string out = tinyc_test::require_command(dir.path() + "/check");
  INFO(out);
  CHECK(out.find(" 0 differ") != std::string::npos);
}
