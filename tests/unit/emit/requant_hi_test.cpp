// output_int8_hi (the one-multiply-accumulate requantization of emitted int8 kernels) equals
// output_int8 (TFLite's two-rounding MultiplyByQuantizedMultiplier) for every right shift it
// is used with: the emitted helpers are compiled on the host and compared over edge values,
// a dense range (every rounding tie of large multipliers) and random accumulators.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "emit/emit_internal.h"
#include "emit_harness.h"

using tinyc_test::TempDir;

TEST_CASE("output_int8_hi is bit-exact with output_int8 for shifts -1 to -31", "[emit]") {
  TempDir dir;
  const std::string checker = "#include <cstdint>\n#include <cstdio>\n" +
                              tinyc::int8_helpers(true, false, false) + R"(
static uint32_t state = 12345u;
static uint32_t next_random() {  // xorshift32
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

int main() {
  long checks = 0, wrong = 0;
  for (int e = 1; e <= 31; ++e) {
    for (int mi = 0; mi < 40; ++mi) {
      const int32_t fixed[] = {0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX, 1518500250};
      const int32_t m = mi < 6 ? fixed[mi]
                               : static_cast<int32_t>((next_random() >> 1) | (mi % 2 ? 1u << 30 : 0u));
      const int32_t zero_points[] = {-128, -3, 0, 5};
      auto check = [&](int32_t acc) {
        const int32_t zp = zero_points[checks & 3];
        ++checks;
        // Unclamped: with the zero point -t + 3 the exact result is 3 (t: requantize's value).
        const int32_t t = requantize(acc, m, -e);
        const int8_t want = 3;
        const int8_t got = output_int8_hi(acc, m, 1 << (e - 1), e - 1, 3 - t, -128, 127);
        const int8_t want_relu = output_int8(acc, m, -e, zp, zp, 127);
        const int8_t got_relu = output_int8_hi(acc, m, 1 << (e - 1), e - 1, zp, zp, 127);
        if (want != got || want_relu != got_relu) {
          if (wrong++ < 5) std::printf("differs: e %d m %d acc %d\n", e, m, acc);
        }
      };
      for (int32_t acc = -5000; acc <= 5000; ++acc) check(acc);
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
  return wrong == 0 ? 0 : 1;
}
)";
  tinyc_test::write_text(dir.path() + "/check.cpp", checker);
  tinyc_test::require_command(fmt::format(
      "g++ -std=c++11 -O2 -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover=all "
      "{0}/check.cpp -o {0}/check", dir.path()));
  const std::string out = tinyc_test::require_command(dir.path() + "/check");
  CHECK(out.find(" 0 differ") != std::string::npos);
}
